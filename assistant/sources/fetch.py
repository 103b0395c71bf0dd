"""Getting an article's bytes from a file or over http(s): size limits, one-line errors."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from .. import __version__
from ..errors import SourceError

TIMEOUT = 15.0
SCHEMES = ("http", "https")
USER_AGENT = f"assistant/{__version__} (article import)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A downloaded page."""

    data: bytes
    media_type: str  # lower case without parameters, e.g. "text/html"; "" if not stated
    charset: str | None  # as the server declared it
    url: str  # after redirects


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only: urllib would also follow one to ftp:."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if urlparse(newurl).scheme not in SCHEMES:
            fp.close()
            raise SourceError(f"could not fetch URL {req.full_url}: it redirects to {newurl}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_url(url: str, max_bytes: int) -> Fetched:
    """Download ``url``, refusing more than ``max_bytes``.

    Raises:
        SourceError: another scheme, a network or HTTP error, a timeout, or a body over
            ``max_bytes``; the message is one line that starts "could not fetch URL".
    """
    if urlparse(url).scheme.lower() not in SCHEMES:
        raise SourceError(f"cannot import {url}: only http and https URLs are supported")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            _refuse_declared_size(response.headers, url, max_bytes)
            # Reading one byte past the limit tells an oversized body from one that fits.
            data = response.read(max_bytes + 1)
            headers, final_url = response.headers, response.geturl()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise SourceError(f"could not fetch URL {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"could not fetch URL {url}: {_reason(exc.reason)}") from None
    except TimeoutError:
        raise SourceError(f"could not fetch URL {url}: no answer within {TIMEOUT:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise SourceError(f"could not fetch URL {url}: {_reason(exc)}") from None
    if len(data) > max_bytes:
        raise SourceError(f"could not fetch URL {url}: the page is over the {max_bytes:,}-byte limit")
    return Fetched(data, headers.get_content_type() if headers.get("Content-Type") else "",
                   headers.get_content_charset(), final_url)


def _refuse_declared_size(headers: Message, url: str, max_bytes: int) -> None:
    declared = headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"could not fetch URL {url}: the page is over the {max_bytes:,}-byte limit")


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    text = " ".join(str(reason).split())
    return text or type(reason).__name__


def read_file(path: Path, max_bytes: int, suffixes: tuple[str, ...]) -> bytes:
    """The bytes of an article file, once its kind, type (one of ``suffixes``) and size are acceptable.

    Raises:
        SourceError: missing, a folder, another type, over ``max_bytes``, or unreadable.
    """
    try:
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        if path.is_dir():
            raise SourceError(f"{path} is a folder; give the article files in it instead")
        if path.suffix.lower() not in suffixes:
            kind = path.suffix.lower() or "(none)"
            raise SourceError(f"{path}: unsupported file type {kind!r}; use one of {', '.join(suffixes)}")
        if not path.is_file():
            raise SourceError(f"{path} is not a regular file")
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"{path} is {size:,} bytes, over the {max_bytes:,}-byte limit (ASSISTANT_MAX_FILE_BYTES)")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceError(f"{path} is over the {max_bytes:,}-byte limit (ASSISTANT_MAX_FILE_BYTES)")
    return data

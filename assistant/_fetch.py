"""Fetching an article over http(s), with a size limit and one-line errors."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from urllib.parse import urlparse

from . import __version__
from .errors import SourceError

TIMEOUT = 15.0


def fetch_url(url: str, max_bytes: int) -> tuple[bytes, str]:
    """Download ``url``; returns the body and its content type (lower case).

    Raises:
        SourceError: another scheme, a network or HTTP error, or a body over ``max_bytes``.
    """
    if urlparse(url).scheme not in ("http", "https"):
        raise SourceError(f"cannot import {url}: only http and https URLs are supported")
    request = urllib.request.Request(url, headers={"User-Agent": f"assistant/{__version__} (article import)"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            data = response.read(max_bytes + 1)
            content_type = (response.headers.get("Content-Type") or "").lower()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the open response
        raise SourceError(f"could not fetch URL {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"could not fetch URL {url}: {_reason(exc.reason)}") from None
    except (TimeoutError, socket.timeout):
        raise SourceError(f"could not fetch URL {url}: no answer within {TIMEOUT:g}s") from None
    except OSError as exc:
        raise SourceError(f"could not fetch URL {url}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceError(f"could not fetch URL {url}: larger than the {max_bytes:,}-byte limit")
    return data, content_type


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason)

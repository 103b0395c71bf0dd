"""Getting an article's bytes from a file or over http(s): size limits, one-line errors."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from .. import __version__
from ..errors import SourceError

TIMEOUT = 15.0  # seconds per connect or read; the whole download has its own deadline
DEADLINE = 30.0  # seconds for the whole download, redirects included (Settings.fetch_deadline)
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
        fp.close()  # urllib would read the redirect's whole body, unbounded, before following it
        if urlparse(newurl).scheme not in SCHEMES:
            raise SourceError(f"could not fetch URL {req.full_url}: it redirects to {newurl}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Refused(Exception):
    """A host that resolves to an address that is not public."""


class _Guard:
    """One download's rules for every connection it opens, redirects included.

    Each host is resolved once and every address checked before connecting to a checked one
    (so a second lookup cannot answer otherwise); when the deadline passes, the open sockets are
    shut, which ends any read at once however slowly the server sends.
    """

    def __init__(self, deadline: float, allow_private: bool) -> None:
        self.deadline, self.allow_private = deadline, allow_private
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Guard:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def connect(self, address: tuple[str, int], timeout: float = TIMEOUT, source_address: Any = None,
                **_: Any) -> socket.socket:
        """Used by http.client in place of ``socket.create_connection``."""
        host, port = address
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not self.allow_private:
            for *_rest, sockaddr in infos:
                _check_public(host, str(sockaddr[0]))
        error: OSError = OSError(f"{host} has no address")
        for family, kind, proto, _name, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            with self._lock:
                self._sockets.append(sock)
                if self.expired:
                    sock.shutdown(socket.SHUT_RDWR)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error


def _check_public(host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return
    kind = next((name for name, test in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                                         ("reserved", ip.is_reserved), ("private", ip.is_private)) if test),
                "non-public")
    raise _Refused(f"{host} is at {ip}, a {kind} address; pass --allow-private to import from it")


def _opener(guard: _Guard) -> urllib.request.OpenerDirector:
    def connection(base: type[http.client.HTTPConnection]) -> Any:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = base(host, **kwargs)
            conn._create_connection = guard.connect  # type: ignore[attr-defined]
            return conn
        return make

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(connection(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(connection(http.client.HTTPSConnection), req)

    # No proxies from the environment: the address checked must be the one connected to.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), Http, Https, _HttpOnlyRedirects)


def fetch_url(url: str, max_bytes: int, *, deadline: float = DEADLINE, allow_private: bool = False) -> Fetched:
    """Download ``url``, refusing more than ``max_bytes``, more than ``deadline`` seconds, or a private address.

    Args:
        url: An http(s) URL.
        max_bytes: Largest body accepted (redirects' bodies are not read).
        deadline: Seconds for the whole download, redirects included. Default 30.
        allow_private: Also fetch from loopback, private, link-local and reserved addresses. Default False:
            every address the host (and each redirect's host) resolves to must be public.

    Raises:
        SourceError: another scheme, a refused address, a network or HTTP error, a timeout, the deadline,
            or a body over ``max_bytes``; the message is one line that starts "could not fetch URL".
    """
    if urlparse(url).scheme.lower() not in SCHEMES:
        raise SourceError(f"cannot import {url}: only http and https URLs are supported")
    error: Exception | None = None
    with _Guard(deadline, allow_private) as guard:
        try:
            page = _download(url, max_bytes, _opener(guard))
        except Exception as exc:  # sorted out below, once it is known whether the deadline ended it
            error = exc
    if guard.expired:  # a read the deadline cut short may even look like a whole page
        raise SourceError(f"could not fetch URL {url}: not done within the {deadline:g} s deadline "
                          "(ASSISTANT_FETCH_DEADLINE)")
    if error is not None:
        raise _failure(url, error) from None
    return page


def _download(url: str, max_bytes: int, opener: urllib.request.OpenerDirector) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with opener.open(request, timeout=TIMEOUT) as response:
        _refuse_declared_size(response.headers, url, max_bytes)
        # Reading one byte past the limit tells an oversized body from one that fits.
        data = response.read(max_bytes + 1)
        headers, final_url = response.headers, response.geturl()
    if len(data) > max_bytes:
        raise SourceError(f"could not fetch URL {url}: the page is over the {max_bytes:,}-byte limit")
    return Fetched(data, headers.get_content_type() if headers.get("Content-Type") else "",
                   headers.get_content_charset(), final_url)


def _failure(url: str, exc: Exception) -> Exception:
    """The one-line SourceError for an exception raised while downloading ``url`` (others are returned as they are)."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        return SourceError(f"could not fetch URL {url}: HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        return SourceError(f"could not fetch URL {url}: {_reason(exc.reason)}")
    if isinstance(exc, _Refused):
        return SourceError(f"could not fetch URL {url}: {exc}")
    if isinstance(exc, TimeoutError):
        return SourceError(f"could not fetch URL {url}: no answer within {TIMEOUT:g} s")
    if isinstance(exc, (OSError, http.client.HTTPException, ValueError)):
        return SourceError(f"could not fetch URL {url}: {_reason(exc)}")
    return exc


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

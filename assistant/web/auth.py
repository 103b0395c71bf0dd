"""Who may change the archive from the web: editors' credentials, and the signed cookie a sign-in sets.

Credentials come from a file (``--editors FILE`` or ``ASSISTANT_EDITORS_FILE``) or from ``ASSISTANT_EDITORS``,
never from the command line, where other users of the machine can read them. Each entry is ``name:password``;
the password is stored either as given or as ``scrypt$…``, which ``assistant hash-password`` prints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..errors import ConfigError

COOKIE = "assistant_editor"
SESSION_SECONDS = 12 * 3600  # a sign-in lasts this long, or until the server restarts
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # about 50 ms a check: cheap for a sign-in, costly to guess with
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@dataclass(frozen=True, slots=True)
class Editors:
    """The editors' names and stored passwords, and where they came from (for the start-up message)."""

    passwords: Mapping[str, str]
    origin: str
    shown: str | None = None  # a one-time password, printed at start-up for the person who started the server

    def check(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; takes as long for an unknown name as for a known one."""
        stored = self.passwords.get(name)
        ok = verify(password, stored if stored is not None else _DUMMY)
        return ok and stored is not None


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of a password: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 2**20, **_SCRYPT)
    parts = [str(_SCRYPT[k]) for k in "nrp"] + [base64.b64encode(x).decode("ascii") for x in (salt, digest)]
    return "scrypt$" + "$".join(parts)


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored password (scrypt form or as given), in constant time."""
    if not stored.startswith("scrypt$"):
        return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))
    try:
        n, r, p, salt, digest = stored.split("$")[1:]
        want = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True), n=int(n),
                             r=int(r), p=int(p), dklen=len(want), maxmem=64 * 2**20)
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


_DUMMY = hash_password("", b"\0" * 16)


def load_editors(environ: Mapping[str, str], path: Path | None = None) -> Editors | None:
    """The editors from ``path``, else ``ASSISTANT_EDITORS_FILE``, else ``ASSISTANT_EDITORS``; None if none.

    A file has one ``name:password`` a line (blank lines and ``#`` comments skipped); the variable holds
    entries separated by white space.

    Raises:
        ConfigError: an unreadable file, or an entry that is not ``name:password``.
    """
    path = path or (Path(environ["ASSISTANT_EDITORS_FILE"]) if environ.get("ASSISTANT_EDITORS_FILE") else None)
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the editors file {path}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        entries = [(f"{path} line {n}", line.strip()) for n, line in enumerate(lines, 1)]
        origin = str(path)
    elif environ.get("ASSISTANT_EDITORS", "").strip():
        entries = [(f"ASSISTANT_EDITORS entry {n}", e) for n, e in enumerate(environ["ASSISTANT_EDITORS"].split(), 1)]
        origin = "ASSISTANT_EDITORS"
    else:
        return None
    passwords = dict(_entry(where, text) for where, text in entries if text and not text.startswith("#"))
    if not passwords:
        raise ConfigError(f"{origin} names no editors; give one name:password a line")
    return Editors(passwords, origin)


def _entry(where: str, text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not _NAME.fullmatch(name) or not password:
        raise ConfigError(f"{where}: expected name:password (a name of letters, digits, '.', '_', '-', '@')")
    return name, password


class Sessions:
    """Signed cookies naming an editor; the key is made at start-up, so a restart signs everyone out."""

    def __init__(self, key: bytes | None = None, max_age: int = SESSION_SECONDS) -> None:
        self._signer = URLSafeTimedSerializer(key or os.urandom(32), salt="editor")
        self.max_age = max_age

    def issue(self, name: str) -> str:
        return self._signer.dumps(name)

    def editor(self, cookie: str | None) -> str | None:
        """The editor a cookie names, or None when it is missing, forged, or older than ``max_age``."""
        if not cookie:
            return None
        try:
            name = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is one too
            return None
        return name if isinstance(name, str) else None


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK


@dataclass(frozen=True, slots=True)
class Access:
    """Who may do what on one server: anyone reads and asks; signed-in editors change the archive."""

    editors: Editors | None
    sessions: Sessions
    read_only: bool = False

    @property
    def active(self) -> Editors | None:
        """The editors who may sign in: none on a read-only server."""
        return None if self.read_only else self.editors

    @property
    def editing(self) -> bool:
        """Whether the web app offers adding and removing at all."""
        return self.active is not None

    def editor_of(self, cookies: Mapping[str, str] | None) -> str | None:
        """The signed-in editor named by a request's cookies, or None."""
        editors = self.active
        if editors is None or not cookies:
            return None
        name = self.sessions.editor(cookies.get(COOKIE))
        return name if name in editors.passwords else None

    def editor(self, request: Any) -> str | None:
        """The signed-in editor making a Gradio request (``gr.Request``), or None."""
        return self.editor_of(getattr(request, "cookies", None) if request is not None else None)

    def describe(self, url: str) -> list[str]:
        """Who can do what, as the server says at start-up."""
        lines = [f"Anyone who can open {url}: read and ask."]
        editors = self.active
        if editors is not None:
            lines.append(f"Editors ({len(editors.passwords)}, from {editors.origin}): add, remove and restore "
                         f"articles after signing in at {url}login.")
            if editors.shown is not None:
                name = next(iter(editors.passwords))
                lines.append(f"Sign in as {name} with password {editors.shown} (it ends with this server; "
                             "set ASSISTANT_EDITORS or pass --editors FILE for lasting editors).")
        else:
            why = "--read-only" if self.read_only else "no editors given (ASSISTANT_EDITORS or --editors FILE)"
            lines.append(f"Nobody can add or remove articles from the web ({why}); "
                         "`assistant add` and `assistant remove` still work on this machine.")
        return lines


def one_time_editor(name: str = "local") -> Editors:
    """An editor whose password is made for this run only and printed at start-up, like a notebook server's
    token: the person at the keyboard can edit, a page open in the same browser cannot."""
    password = secrets.token_urlsafe(12)
    return Editors({name: password}, "a password made for this run", shown=password)


def access_for(host: str, editors: Editors | None, read_only: bool, sessions: Sessions | None = None) -> Access:
    """Who may do what on a server listening on ``host``.

    Without editors, a server on this machine gets a one-time editor; one that other machines can reach
    must be ``read_only``.

    Raises:
        ConfigError: ``host`` is beyond loopback, with neither editors nor ``read_only``.
    """
    if editors is None and not read_only:
        if not is_loopback(host):
            raise ConfigError(f"--host {host} lets other machines in, and no editors are given: set "
                              "ASSISTANT_EDITORS or pass --editors FILE, or pass --read-only")
        editors = one_time_editor()
    return Access(editors, sessions or Sessions(), read_only)

"""Managing the archive from a running app: uploads, pasted text, and noticing files dropped in.

Every change goes through ``sources`` (validation, atomic writes) and then
``Assistant.update`` (incremental), one at a time.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath

from .. import sources
from ..config import Settings
from ..errors import IndexBusyError, SourceError
from ..index.store import Manifest
from ..index.update import UpdateReport
from ..session import Assistant


@dataclass(frozen=True, slots=True)
class Row:
    """One article as the Articles tab lists it."""

    id: str
    title: str
    publisher: str | None
    published: str | None
    passages: int | None  # None: not indexed yet


def upload_name(name: str, settings: Settings) -> str:
    """The bare file name of an upload, checked: a supported type, no folders, not hidden.

    Raises:
        SourceError: the name is empty, hidden, or of a type that cannot be imported.
    """
    base = PurePath(name.replace("\\", "/")).name
    if not base or base.startswith("."):
        raise SourceError(f"cannot import {name!r}: give the file a name such as article.txt")
    if PurePath(base).suffix.lower() not in sources.SUPPORTED:
        raise SourceError(f"cannot import {base}: only {', '.join(sources.SUPPORTED)} files can be added")
    return base


def import_upload(path: str | Path, name: str, settings: Settings, title: str | None = None,
                  publisher: str | None = None, published: str | None = None) -> sources.AddResult:
    """Archive an uploaded file. Its name only tells its type: the archive file is named from its title.

    Raises:
        SourceError: a bad name, type, size or content (nothing is written).
    """
    base = upload_name(name, settings)
    size = Path(path).stat().st_size
    if size > settings.max_file_bytes:
        raise SourceError(f"cannot import {base}: it is {size:,} bytes; the limit is {settings.max_file_bytes:,}")
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        copy = Path(folder) / base
        shutil.copyfile(path, copy)
        return sources.add(str(copy), settings, title=title, publisher=publisher, published=published)


def import_pasted(title: str, text: str, settings: Settings, publisher: str | None = None,
                  published: str | None = None) -> sources.AddResult:
    """Archive pasted text under ``title``.

    Raises:
        SourceError: no title, no text, or text over the size limit (nothing is written).
    """
    if not title.strip():
        raise SourceError("give the pasted article a title")
    if not text.strip():
        raise SourceError("paste the article's text first")
    data = text.encode("utf-8")
    if len(data) > settings.max_file_bytes:
        raise SourceError(f"the pasted text is {len(data):,} bytes; the limit is {settings.max_file_bytes:,}")
    with tempfile.TemporaryDirectory(prefix="paste-") as folder:
        copy = Path(folder) / "pasted.txt"
        copy.write_bytes(data)
        return sources.add(str(copy), settings, title=title, publisher=publisher, published=published)


def rows(settings: Settings, manifest: Manifest | None) -> list[Row]:
    """The archive, with passage counts from an index manifest (None: nothing indexed)."""
    indexed = manifest.sources if manifest is not None else {}
    out = []
    for s in sources.readable_sources(settings):
        entry = indexed.get(s.id)
        out.append(Row(s.id, s.title, s.publisher, s.published, entry.passages if entry else None))
    return out


class Watch:
    """Notices files added, changed or removed in ``sources/`` by any means, by their names, sizes and times."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for p in sources.archive_paths(self.settings):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((p.name, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def refresh(self, progress: bool = False, wait: bool = True) -> UpdateReport | None:
        """Update the index if the archive changed since the last look; None when it did not.

        Args:
            progress: Show a progress bar on stderr while embedding.
            wait: Wait for an update running in this or another process. False (a question): raise
                IndexBusyError at once instead, so the caller answers from the last committed index.
        """
        if self.fingerprint() == self._seen:
            return None  # the common case: a few stat calls, no lock
        if not self._lock.acquire(blocking=wait):
            raise IndexBusyError("the index is being updated")
        try:
            now = self.fingerprint()  # again: another thread may have just updated
            if now == self._seen:
                return None
            report = self.assistant.update(progress=progress, wait=wait)
            self._seen = now
            return report
        finally:
            self._lock.release()

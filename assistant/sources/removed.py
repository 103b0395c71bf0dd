"""Removed articles: kept in ``sources/.removed/`` for a while, each removal and restore in an append-only log.

The log (``sources/.removed/log.jsonl``) says who removed what and when; it only grows by whole lines. The
kept copies are bounded by ``Settings.removed_keep`` and ``Settings.removed_max_bytes``: the oldest go first,
and their going is logged too. What is still kept can be restored.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..config import Settings
from ..errors import DuplicateSourceError, SourceError

REMOVED = ".removed"
LOG = "log.jsonl"


@dataclass(frozen=True, slots=True)
class Removal:
    """One removal whose copy can still be restored."""

    kept: str  # the copy's file name in .removed/, unique: what ``restore`` is given
    source_id: str
    title: str
    path: str  # where the article was, relative to the project root
    at: str  # when, ISO 8601 in UTC
    by: str  # who: an editor's name, or the system user of a command


def removed_dir(settings: Settings) -> Path:
    return settings.sources_dir / REMOVED


def remove(source_id: str, settings: Settings, by: str = "") -> Path:
    """Move an archived article to ``sources/.removed/``, log it, and drop the oldest copies over the bounds.

    Args:
        source_id: The article's id (its file name without ``.md``).
        settings: Where the archive is, and how many removed copies to keep.
        by: Who removes it, for the log.

    Returns:
        Where the file now lies.

    Raises:
        SourceError: no article in the archive has that id.
    """
    from .archive import archive_paths, read_source

    path = next((p for p in archive_paths(settings) if p.stem == source_id), None)
    if path is None:
        raise SourceError(f"no article {source_id!r} in {settings.relative(settings.sources_dir)}/; "
                          "`assistant sources` lists them")
    try:
        title = read_source(path, settings).title
    except SourceError:
        title = source_id  # a damaged file can still be removed
    folder = removed_dir(settings)
    folder.mkdir(exist_ok=True)
    target = _free(folder, source_id)
    os.replace(path, target)
    os.utime(target)  # its time in .removed/ is when it was removed: the oldest copies go first
    _log(settings, {"action": "remove", "kept": target.name, "id": source_id, "title": title,
                    "path": settings.relative(path), "by": by})
    prune(settings)
    return target


def removals(settings: Settings) -> list[Removal]:
    """The logged removals whose copies are still kept, newest first."""
    open_: dict[str, Removal] = {}
    for entry in _entries(settings):
        kept = str(entry.get("kept", ""))
        if entry.get("action") == "remove":
            open_[kept] = Removal(kept, str(entry.get("id", "")), str(entry.get("title", "")),
                                  str(entry.get("path", "")), str(entry.get("at", "")), str(entry.get("by", "")))
        else:
            open_.pop(kept, None)  # restored or expired
    folder = removed_dir(settings)
    return [r for r in reversed(open_.values()) if r.kept and (folder / r.kept).is_file()]


def restore(which: str, settings: Settings, by: str = "") -> Path:
    """Put a removed article back in the archive under its old id (or a free one) and log it.

    Args:
        which: The kept copy's file name, or a source id (its most recent removal).
        settings: Where the archive is.
        by: Who restores it, for the log.

    Returns:
        The restored file in ``sources/``.

    Raises:
        SourceError: nothing kept under that name or id.
        DuplicateSourceError: the same text is in the archive again; nothing is moved.
    """
    from .archive import body_hash, body_hashes, read_source

    found = next((r for r in removals(settings) if which in (r.kept, r.source_id)), None)
    if found is None:
        raise SourceError(f"nothing removed under {which!r} can be restored; `assistant restore` lists what can")
    copy = removed_dir(settings) / found.kept
    try:
        kept = read_source(copy, settings)
        wanted = body_hash(kept.text[kept.body_start:])
    except SourceError:
        wanted = ""  # a damaged copy is restored as it is; the index step reports it
    existing = body_hashes(settings).get(wanted) if wanted else None
    if existing is not None:
        raise DuplicateSourceError(f"{found.title} is in the archive again as {existing}; not restored",
                                   existing_path=existing)
    target = _free(settings.sources_dir, found.source_id)
    try:
        os.link(copy, target)  # never over a file that appeared meanwhile: link fails if the name is taken
        copy.unlink()
    except FileExistsError:
        raise SourceError(f"{settings.relative(target)} appeared while restoring; try again") from None
    except OSError:
        os.replace(copy, target)  # a file system without hard links
    _log(settings, {"action": "restore", "kept": found.kept, "id": target.stem, "title": found.title,
                    "path": settings.relative(target), "by": by})
    return target


def prune(settings: Settings) -> list[str]:
    """Delete the oldest kept copies beyond ``removed_keep`` files or ``removed_max_bytes``; the newest stays."""
    folder = removed_dir(settings)
    copies = sorted(folder.glob("*.md"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    total, dropped = 0, []
    for n, copy in enumerate(copies):
        total += copy.stat().st_size
        if n and (n >= settings.removed_keep or total > settings.removed_max_bytes):
            copy.unlink(missing_ok=True)
            _log(settings, {"action": "expire", "kept": copy.name, "id": copy.stem, "by": "bound"})
            dropped.append(copy.name)
    return dropped


def _free(folder: Path, stem: str) -> Path:
    names = (f"{stem}.md" if n == 1 else f"{stem}-{n}.md" for n in itertools.count(1))
    return next(folder / name for name in names if not (folder / name).exists() and name != "readme.md")


def _log(settings: Settings, entry: dict[str, str]) -> None:
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    folder = removed_dir(settings)
    folder.mkdir(exist_ok=True)
    # One write of a whole line to a file opened for appending: lines are never interleaved or rewritten.
    fd = os.open(folder / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _entries(settings: Settings) -> list[dict[str, object]]:
    path = removed_dir(settings) / LOG
    try:
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash costs that line, not the log
        if isinstance(entry, dict):
            out.append(entry)
    return out

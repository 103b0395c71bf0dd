"""The index on disk: generations of FAISS vectors, passages and a manifest.

Layout (documented for users in ``index/README.md``)::

    index/CURRENT           name of the live generation, e.g. "gen-000007"
    index/gen-000007/       manifest.json, passages.jsonl, vectors.faiss, ...
    index/.lock             held by the process that is writing

A new generation is written beside the live one, fsynced, renamed into place and
only then named in ``CURRENT`` (itself replaced atomically), so a process killed
at any moment leaves the previous generation live and complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import IndexBusyError, IndexCorruptError, IndexMissingError
from ..types import Passage

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.faiss"
_REBUILD = "run `assistant index --rebuild`"


@dataclass(slots=True)
class Snapshot:
    """One loaded generation of the index."""

    path: Path
    manifest: dict[str, Any]
    passages: list[Passage]
    vectors: Any  # a faiss.Index holding one normalised vector per passage, same order

    def dense_matrix(self) -> np.ndarray:
        """All vectors as an ``(n, dim)`` float32 array (row i belongs to ``passages[i]``)."""
        if self.vectors.ntotal == 0:
            return np.empty((0, self.vectors.d), dtype=np.float32)
        return self.vectors.reconstruct_n(0, self.vectors.ntotal)


def current_path(settings: Settings) -> Path | None:
    """The live generation folder, or None when no index was ever built."""
    pointer = settings.index_dir / CURRENT
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return settings.index_dir / name


def load(settings: Settings) -> Snapshot:
    """Load and check the live generation.

    Raises:
        IndexMissingError: no index was built yet.
        IndexCorruptError: a file is missing, truncated or unreadable.
    """
    path = current_path(settings)
    if path is None:
        raise IndexMissingError(f"no index in {settings.relative(settings.index_dir)}/ — run `assistant index`")
    manifest = _read_manifest(path)
    for name, size in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            raise IndexCorruptError(f"index file {name} is missing or truncated; {_REBUILD}")
    passages = _read_passages(path / PASSAGES)
    vectors = _read_vectors(path / VECTORS)
    if not len(passages) == vectors.ntotal == manifest["counts"]["passages"]:
        raise IndexCorruptError(f"index files disagree on the number of passages; {_REBUILD}")
    return Snapshot(path, manifest, passages, vectors)


def built_backend(manifest: dict[str, Any] | None) -> str | None:
    """What embedded an index's passages (indexes from before backends were recorded: ``torch``)."""
    return None if manifest is None else manifest.get("model", {}).get("backend", "torch")


def check_model(manifest: dict[str, Any], name: str, dim: int | None = None) -> None:
    """Refuse an index built by another model (``dim`` None: check the name only)."""
    built = manifest.get("model", {})
    if built.get("name") != name or (dim is not None and built.get("dim") != dim):
        shown = f"{name!r}" if dim is None else f"{name!r} ({dim} dims)"
        raise IndexCorruptError(
            f"index was built with model {built.get('name')!r} ({built.get('dim')} dims), "
            f"not {shown}; {_REBUILD}"
        )


def write(
    settings: Settings,
    manifest: dict[str, Any],
    passages: list[Passage],
    vectors: np.ndarray,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a new generation and make it live; returns its folder.

    Args:
        settings: Where the index lives.
        manifest: Everything but ``format``, ``generation``, ``counts`` and ``files``,
            which are filled in here.
        passages: All passages of the new generation.
        vectors: One normalised row per passage, same order.
        extra: Called with the unfinished folder to write further files (e.g. BM25).
    """
    import faiss

    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    generation = _next_generation(index_dir)
    name = f"gen-{generation:06d}"
    tmp = index_dir / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with open(tmp / PASSAGES, "w", encoding="utf-8") as out:
        for p in passages:
            out.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
    flat = faiss.IndexFlatIP(int(manifest["model"]["dim"]))
    if len(vectors):
        flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(flat, str(tmp / VECTORS))
    if extra is not None:
        extra(tmp)
    files = {f.relative_to(tmp).as_posix(): f.stat().st_size for f in sorted(tmp.rglob("*")) if f.is_file()}
    full = {**manifest, "format": FORMAT_VERSION, "generation": generation,
            "counts": {"sources": len(manifest.get("sources", {})), "passages": len(passages)},
            "files": files}
    (tmp / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False), encoding="utf-8")
    _fsync_tree(tmp)
    os.replace(tmp, index_dir / name)
    _fsync_dir(index_dir)
    _atomic_write_text(index_dir / CURRENT, name + "\n")
    _remove_old_generations(index_dir, keep={name})
    return index_dir / name


@contextlib.contextmanager
def locked(settings: Settings) -> Iterator[None]:
    """Hold the index write lock, waiting up to ``settings.lock_timeout`` seconds."""
    from filelock import FileLock, Timeout

    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / ".lock"))
    try:
        lock.acquire(timeout=settings.lock_timeout)
    except Timeout:
        raise IndexBusyError(
            f"another `assistant index` is updating {settings.relative(settings.index_dir)}/ "
            f"(waited {settings.lock_timeout:g}s); try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IndexCorruptError(f"index manifest in {path.name} is missing or unreadable; {_REBUILD}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorruptError(f"index format {manifest.get('format')!r} is not {FORMAT_VERSION}; {_REBUILD}")
    return manifest


def _passage(row: dict[str, Any]) -> Passage:
    row["sentences"] = tuple(tuple(span) for span in row.get("sentences", ()))
    return Passage(**row)


def _read_passages(path: Path) -> list[Passage]:
    try:
        with open(path, encoding="utf-8") as lines:
            return [_passage(json.loads(line)) for line in lines]
    except (OSError, ValueError, TypeError):
        raise IndexCorruptError(f"index file {PASSAGES} is unreadable; {_REBUILD}") from None


def _read_vectors(path: Path) -> Any:
    import faiss

    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        raise IndexCorruptError(f"index file {VECTORS} is unreadable; {_REBUILD}") from None


def _next_generation(index_dir: Path) -> int:
    numbers = [int(p.name[4:10]) for p in index_dir.glob("gen-*") if p.name[4:10].isdigit()]
    return max(numbers, default=0) + 1


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    # The generation just replaced stays one round: a reader that opened it a
    # moment ago can still finish loading it.
    gens = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in gens[:-2]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in index_dir.glob("gen-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        _fsync_dir(folder)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

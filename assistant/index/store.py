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
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DENSE_INDEXES, VECTOR_FORMATS, Settings
from ..errors import IndexBusyError, IndexCorruptError, IndexFormatError, IndexMissingError
from ..types import Passage
from . import lexical
from .passages import PASSAGES, REBUILD, Passages, open_passages
from .search.vectors import Sentences, build_index, row_blocks, save_sentences

# 2: typed manifest with per-file sizes and sha256; 3: a vector per sentence; 4: how vectors are searched and stored
FORMAT_VERSION = 4
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
SENTENCES = "sentences.npy"  # one normalised vector per sentence, passages' sentences in order
_GENERATION = re.compile(r"gen-[0-9]{6,}")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The model that embedded the passages, and the backend that ran it."""

    name: str
    dim: int
    backend: str  # "onnx-int8", "torch", or "custom" for an encoder handed to the Assistant


@dataclass(frozen=True, slots=True)
class ChunkerInfo:
    """How articles were cut into passages; another recipe re-chunks every article."""

    version: int
    max_chars: int


@dataclass(frozen=True, slots=True)
class SearchInfo:
    """How the vectors are searched and stored (see ``search/vectors.py``).

    ``dense``: ``flat`` (exact), ``hnsw`` (approximate, ``hnsw_m`` neighbours per node) or ``ivf``
    (approximate, ``ivf_lists`` inverted lists, as many as the passages called for when it was built);
    ``vectors``: ``float32``, ``float16`` or ``int8`` (scalar quantised), for passages and sentences.
    """

    dense: str = "flat"
    vectors: str = "float32"
    hnsw_m: int = 0  # 0 unless hnsw
    ivf_lists: int = 0  # 0 unless ivf

    @classmethod
    def of(cls, settings: Settings) -> SearchInfo:
        """What ``settings`` would build (``ivf_lists`` is known once the passages are counted)."""
        return cls(settings.dense_index, settings.vectors, settings.hnsw_m if settings.dense_index == "hnsw" else 0)

    def chosen_by(self, settings: Settings) -> bool:
        """Whether ``settings`` choose this kind of index (else the next update rebuilds it)."""
        return replace(self, ivf_lists=0) == SearchInfo.of(settings)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One indexed article."""

    path: str  # relative to the project root
    sha256: str  # of the whole file
    passages: int
    title: str
    publisher: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a generation, as written."""

    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a generation holds: written last, read first (``manifest.json``).

    ``search``, ``generation``, ``passages`` and ``files`` are filled in by :func:`write_index`.
    """

    model: ModelInfo
    chunker: ChunkerInfo
    built: str  # UTC time of the update, ISO 8601
    sources: Mapping[str, SourceEntry]
    search: SearchInfo = SearchInfo()
    generation: int = 0
    passages: int = 0
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The manifest as written to disk (``counts`` holds the numbers of sources and passages)."""
        data: dict[str, Any] = {
            "format": self.format, "generation": self.generation, "model": asdict(self.model),
            "chunker": asdict(self.chunker), "search": asdict(self.search), "built": self.built,
            "counts": {"sources": len(self.sources), "passages": self.passages},
            "sources": {sid: asdict(e) for sid, e in self.sources.items()},
            "files": {name: asdict(f) for name, f in self.files.items()},
        }
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse and check a manifest.

        Raises:
            IndexCorruptError: another format version, a missing field or one of the wrong type.
        """
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise IndexCorruptError(f"index manifest is unreadable; {REBUILD}") from None
        if type(data.get("format")) is not int:
            raise IndexCorruptError(f"index format {data.get('format')!r} is not {FORMAT_VERSION}; {REBUILD}")
        if data["format"] != FORMAT_VERSION:  # an index of an older (or newer) release, not a damaged one
            raise IndexFormatError(f"index format {data['format']} is not {FORMAT_VERSION}; {REBUILD}")
        try:
            counts = data["counts"]
            listed = _int(counts["sources"])
            manifest = cls(
                model=ModelInfo(_str(data["model"]["name"]), _int(data["model"]["dim"]),
                                _str(data["model"]["backend"])),
                chunker=ChunkerInfo(_int(data["chunker"]["version"]), _int(data["chunker"]["max_chars"])),
                built=_str(data["built"]),
                search=SearchInfo(_str(data["search"]["dense"]), _str(data["search"]["vectors"]),
                                  # absent from flat and HNSW manifests written before IVF: 0 is right for them
                                  _int(data["search"]["hnsw_m"]), _int(data["search"].get("ivf_lists", 0))),
                sources={_str(sid): _source_entry(e) for sid, e in _dict(data["sources"]).items()},
                generation=_int(data["generation"]),
                passages=_int(counts["passages"]),
                files={_str(n): FileEntry(_int(f["size"]), _str(f["sha256"])) for n, f in _dict(data["files"]).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise IndexCorruptError(f"index manifest has missing or malformed fields; {REBUILD}") from None
        search = manifest.search
        if search.dense not in DENSE_INDEXES or search.vectors not in VECTOR_FORMATS \
                or min(search.hnsw_m, search.ivf_lists) < 0 or (search.dense == "ivf") != (search.ivf_lists > 0):
            raise IndexCorruptError(f"index manifest names an unknown search index {search}; {REBUILD}")
        if listed != len(manifest.sources) or \
                sum(e.passages for e in manifest.sources.values()) != manifest.passages:
            raise IndexCorruptError(f"index manifest disagrees with itself on its counts; {REBUILD}")
        return manifest


def _dict(value: object) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected a whole number")
    return value


def _optional(value: object) -> str | None:
    return None if value is None else _str(value)


def _source_entry(e: object) -> SourceEntry:
    d = _dict(e)
    return SourceEntry(_str(d["path"]), _str(d["sha256"]), _int(d["passages"]), _str(d["title"]),
                       _optional(d.get("publisher")), _optional(d.get("author")), _optional(d.get("published")),
                       _optional(d.get("url")))


@dataclass(slots=True)
class Snapshot:
    """One loaded generation of the index."""

    path: Path
    manifest: Manifest
    passages: Passages  # read from passages.jsonl by offset when needed
    vectors: Any  # a faiss.Index holding one normalised vector per passage, same order (see search/vectors.py)
    sentence_vectors: Sentences  # (sentences, dim): every passage's sentences, passage by passage
    first_sentence: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    owner: np.ndarray | None = None  # sentence_owner(), made once and shared by its readers

    def dense_matrix(self) -> np.ndarray:
        """All vectors as an ``(n, dim)`` float32 array (row i belongs to ``passages[i]``)."""
        if self.vectors.ntotal == 0:
            return np.empty((0, self.vectors.d), dtype=np.float32)
        return np.asarray(self.vectors.reconstruct_n(0, self.vectors.ntotal), dtype=np.float32)

    def sentence_owner(self) -> np.ndarray:
        """The passage row of each sentence row (the sentences of passage i are rows
        ``first_sentence[i]:first_sentence[i + 1]``)."""
        if self.owner is None:
            self.owner = np.repeat(np.arange(len(self.passages)), np.diff(self.first_sentence))
        return self.owner


def current_path(settings: Settings) -> Path | None:
    """The live generation folder, or None when no index was ever built.

    Raises:
        IndexCorruptError: ``CURRENT`` is unreadable or names no generation.
    """
    pointer = settings.index_dir / CURRENT
    if not pointer.exists():
        return None
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"index pointer {CURRENT} is unreadable; {REBUILD}") from None
    if not _GENERATION.fullmatch(name):
        raise IndexCorruptError(f"index pointer {CURRENT} names no generation; {REBUILD}")
    return settings.index_dir / name


def load(settings: Settings) -> Snapshot:
    """Load and check the live generation.

    Raises:
        IndexMissingError: no index was built yet.
        IndexCorruptError: a file is missing, truncated, changed (its sha256 is checked) or
            unreadable, or the format is another.
    """
    path = current_path(settings)
    if path is None:
        raise IndexMissingError(f"no index in {settings.relative(settings.index_dir)}/ — run `assistant index`")
    manifest = read_manifest(path)
    check_files(path, manifest, skip=PASSAGES)
    listed = manifest.files.get(PASSAGES)
    # Checked while it is read for the passages' offsets: the file is read once, not twice.
    passages = open_passages(path / PASSAGES, manifest.sources, listed.size if listed else None,
                             listed.sha256 if listed else None)
    vectors = _read_vectors(path / VECTORS)
    if not len(passages) == vectors.ntotal == manifest.passages:
        raise IndexCorruptError(f"index files disagree on the number of passages; {REBUILD}")
    sentence_vectors = Sentences(path, SENTENCES, manifest.search.vectors)
    first = passages.first_sentence
    if sentence_vectors.shape != (int(first[-1]), manifest.model.dim) or \
            (sentence_vectors.scales is not None and sentence_vectors.scales.shape != (int(first[-1]),)):
        raise IndexCorruptError(f"index files disagree on the number of sentences; {REBUILD}")
    return Snapshot(path, manifest, passages, vectors, sentence_vectors, first)


def check_files(path: Path, manifest: Manifest, skip: str = "") -> None:
    """Check each file of the generation in ``path`` (but ``skip``) against its size and sha256 in ``manifest``.

    Raises:
        IndexCorruptError: a file is missing, of another size, or its bytes changed.
    """
    for name, entry in manifest.files.items():
        if name == skip:
            continue
        file = path / name
        if not file.is_file() or file.stat().st_size != entry.size:  # the cheap test first
            raise IndexCorruptError(f"index file {name} is missing or truncated; {REBUILD}")
        if file_sha256(file) != entry.sha256:
            raise IndexCorruptError(f"index file {name} does not match its checksum; {REBUILD}")


def load_or_none(settings: Settings) -> Snapshot | None:
    """The live generation, or None when no index was built yet (a damaged one still raises)."""
    try:
        return load(settings)
    except IndexMissingError:
        return None


def read_manifest(path: Path) -> Manifest:
    """The manifest of the generation in ``path``."""
    try:
        text = (path / MANIFEST).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"index manifest in {path.name} is missing or unreadable; {REBUILD}") from None
    return Manifest.from_json(text)


def check_model(manifest: Manifest, name: str, dim: int | None = None) -> None:
    """Refuse an index built by another model (``dim`` None: check the name only)."""
    built = manifest.model
    if built.name != name or (dim is not None and built.dim != dim):
        shown = f"{name!r}" if dim is None else f"{name!r} ({dim} dims)"
        raise IndexCorruptError(f"index was built with model {built.name!r} ({built.dim} dims), not {shown}; {REBUILD}")


def write_index(settings: Settings, manifest: Manifest, passages: Sequence[Passage],
                vectors: np.ndarray | Sequence[np.ndarray], sentence_vectors: np.ndarray | Sequence[np.ndarray]) -> Path:
    """Write a complete new generation (passages, vectors, sentence vectors, BM25, manifest) and make it live.

    Args:
        settings: Where the index lives.
        manifest: Model, chunker, built time and sources; ``generation``, ``passages`` and
            ``files`` are filled in here.
        passages: All passages of the new generation, with their sentences.
        vectors: One normalised row per passage, same order; or consecutive blocks of those rows (written
            one after the other, so a caller that holds them in pieces needs no joined copy).
        sentence_vectors: One normalised row per sentence: the sentences of ``passages[0]``, then
            those of ``passages[1]``, and so on; or blocks of them, likewise.

    Returns:
        The folder of the new generation.
    """
    import faiss

    search = SearchInfo.of(settings)
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
    dim = manifest.model.dim
    index = _vector_index(row_blocks(vectors, dim), dim, search)
    if search.dense == "ivf":
        search = replace(search, ivf_lists=int(index.nlist))
    faiss.write_index(index, str(tmp / VECTORS))
    del index  # before the sentences and BM25 are built: at millions of passages it is gigabytes
    save_sentences(tmp, SENTENCES, sentence_vectors, search.vectors, dim)
    lexical.build([p.text for p in passages], tmp / lexical.FOLDER)
    files = {f.relative_to(tmp).as_posix(): FileEntry(f.stat().st_size, file_sha256(f))
             for f in sorted(tmp.rglob("*")) if f.is_file()}
    full = replace(manifest, search=search, generation=generation, passages=len(passages), files=files, format=FORMAT_VERSION)
    (tmp / MANIFEST).write_text(full.to_json(), encoding="utf-8")
    _fsync_tree(tmp)
    os.replace(tmp, index_dir / name)
    _fsync_dir(index_dir)
    _atomic_write_text(index_dir / CURRENT, name + "\n")
    _remove_old_generations(index_dir, keep={name})
    return index_dir / name


def _vector_index(blocks: list[np.ndarray], dim: int, search: SearchInfo) -> Any:
    """The generation's FAISS index, filled block by block (no joined copy)."""
    import faiss

    if search.dense == "flat" and search.vectors == "float32":
        index = faiss.IndexFlatIP(dim)
        for block in blocks:
            index.add(np.ascontiguousarray(block, dtype=np.float32))
        return index
    return build_index(blocks or np.empty((0, dim), dtype=np.float32), search.dense, search.vectors, search.hnsw_m)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read a megabyte at a time (the manifest records one per index file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(settings: Settings, timeout: float | None = None) -> Iterator[None]:
    """Hold the index write lock, waiting up to ``timeout`` seconds (None: ``settings.lock_timeout``; 0: not at all)."""
    from filelock import FileLock, Timeout

    wait = settings.lock_timeout if timeout is None else timeout
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / ".lock"))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise IndexBusyError(
            f"another `assistant index` is updating {settings.relative(settings.index_dir)}/ "
            f"(waited {wait:g}s); try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _read_vectors(path: Path) -> Any:
    import faiss

    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        raise IndexCorruptError(f"index file {VECTORS} is unreadable; {REBUILD}") from None


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

"""Settings: one frozen value with defaults, overridable by ``ASSISTANT_*`` variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MODES = ("dense", "bm25", "hybrid")  # retrieval modes: cosine, BM25, and their fusion
BACKENDS = ("onnx-int8", "torch")  # what embeds passages and questions
DENSE_INDEXES = ("flat", "hnsw", "ivf")  # exact search, an HNSW graph or inverted lists (approximate)
VECTOR_FORMATS = ("float32", "float16", "int8")  # how passage and sentence vectors are stored
STORES = ("faiss", "qdrant")  # where passages are searched: the generation's own files, or Qdrant
CUSTOM_BACKEND = "custom"  # recorded for an encoder handed to the Assistant instead of a named model
# Stands for "derived from root": a folder given explicitly is kept when root changes.
_DERIVED = Path("\0derived")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the pipeline can be tuned by.

    Attributes:
        root: Project folder; ``path`` fields in output are relative to it. Default: the
            current directory.
        sources_dir: The article archive. Default: ``<root>/sources`` (follows ``root`` in
            ``replace`` unless given).
        index_dir: The built index. Default: ``<root>/index`` (likewise).
        model: A sentence-transformers model name or folder. Default: the packaged
            ``all-MiniLM-L6-v2``, which needs no network.
        backend: What embeds passages and questions: ``onnx-int8`` (default), the model
            exported to ONNX with int8 weights, 1.8 times as fast as ``torch`` (the model as
            sentence-transformers runs it) and within 0.3 points of it on SciFact nDCG@10.
            Changing it re-embeds every passage at the next ``assistant index``.
        chunk_chars: Largest passage, in characters, unless one sentence group is longer.
        batch_size: Texts per embedding batch.
        ingest_batch: Articles read, chunked and embedded together when many are indexed. Default 200.
        commit_seconds: While many articles are indexed, a generation holding those done so far is
            committed once this long has passed since the last one, and at least 20 times as long
            as writing that one took (so rewriting the index costs at most 5%). 0: after every
            batch. Default 30.
        max_file_bytes: Largest article accepted by ``assistant add``, from a file or a download.
        fetch_deadline: Seconds ``assistant add URL`` may take to download one page, redirects
            included, however slowly the server sends. Default 30.
        lock_timeout: Seconds to wait for another indexer before giving up.
        removed_keep: Removed articles kept in ``sources/.removed/`` to be restored; the oldest
            go first. Default 100.
        removed_max_bytes: Bytes those copies may take together (the newest is always kept).
            Default 50 MB.
        upload_max_bytes: Bytes that uploads not yet added to the archive may take in the web
            chat's upload folder; an editor's upload past it is refused. Default 25 MB.
        rrf_k: The constant c of reciprocal rank fusion, 1 / (c + rank).
        bm25_weight: Weight of the BM25 ranking in the fusion (the dense ranking weighs 1).
        dense_index: How passage vectors are searched: ``flat`` (exact, default), ``hnsw`` (an
            approximate graph) or ``ivf`` (inverted lists around about 4·√n k-means centroids, the
            ``nprobe`` nearest read per question); approximate ones search sentences among the
            candidate passages' only.
            Changing it rebuilds the vector index (nothing is embedded) at the next ``assistant index``.
        vectors: How vectors are stored: ``float32`` (default), ``float16`` or ``int8`` (scalar
            quantised, a quarter of the memory). Changing it rebuilds the vector index likewise.
        hnsw_m: Neighbours per node of an ``hnsw`` graph (more: better recall, more memory).
        ef_search: Candidates an ``hnsw`` search keeps (more: better recall, slower).
        nprobe: Lists an ``ivf`` search reads (more: better recall, slower); more when a filter lets
            few passages through or the list asked for is deep. Default 64.
        fusion_depth: How many dense and how many BM25 candidates the fusion ranks: the union of
            both lists, each passage scored by its ranks in the lists it is in. Default 0: every
            passage for exact search (the fusion of the full rankings), 1,000 for ``hnsw`` and ``ivf``.
        store: Where passages are searched: ``faiss`` (the generation's files, default) or
            ``qdrant`` (a collection synced from the generation when the index is opened).
        qdrant_url: A Qdrant server for ``store=qdrant``; empty: qdrant-client's local mode in
            ``qdrant_path`` (default ``<index>/qdrant``).
        qdrant_collection: The archive's collection name (one per archive on a shared server).
        group_threshold: Shingle containment at which two sentences count as the same quote.
        abstain_below: The abstention model's confidence that the articles answer, under which
            nothing is quoted. Default: the threshold chosen with the model on the tune
            questions (``assistant/answer/weights.json``).
    """

    root: Path = field(default_factory=Path.cwd)
    sources_dir: Path = _DERIVED
    index_dir: Path = _DERIVED
    model: str = DEFAULT_MODEL
    backend: str = "onnx-int8"
    chunk_chars: int = 450
    batch_size: int = 32
    ingest_batch: int = 200
    commit_seconds: float = 30.0
    max_file_bytes: int = 5_000_000
    fetch_deadline: float = 30.0
    lock_timeout: float = 10.0
    removed_keep: int = 100
    removed_max_bytes: int = 50_000_000
    upload_max_bytes: int = 25_000_000
    rrf_k: int = 10
    bm25_weight: float = 1.5
    dense_index: str = "flat"
    vectors: str = "float32"
    hnsw_m: int = 32
    ef_search: int = 128
    nprobe: int = 64
    fusion_depth: int = 0
    store: str = "faiss"
    qdrant_url: str = ""
    qdrant_path: str = ""
    qdrant_collection: str = "articles"
    group_threshold: float = 0.6
    abstain_below: float | None = None
    # Names of the folders derived from root rather than given; not compared, not a setting.
    derived: tuple[str, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend {self.backend!r}; choose {' or '.join(BACKENDS)}")
        if self.ingest_batch < 1:
            raise ConfigError(f"ASSISTANT_INGEST_BATCH must be at least 1, not {self.ingest_batch}")
        for name, value, choices in (("store", self.store, STORES), ("dense index", self.dense_index, DENSE_INDEXES),
                                     ("vector format", self.vectors, VECTOR_FORMATS)):
            if value not in choices:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        if min(self.hnsw_m, self.ef_search, self.nprobe) < 1 or self.fusion_depth < 0:
            raise ConfigError("hnsw_m, ef_search and nprobe must be at least 1, fusion_depth at least 0")
        root = Path(self.root).resolve()
        object.__setattr__(self, "root", root)
        derived = []
        for name, default in (("sources_dir", "sources"), ("index_dir", "index")):
            given = Path(getattr(self, name))
            if given == _DERIVED:
                derived.append(name)
                given = root / default
            object.__setattr__(self, name, given.resolve())
        object.__setattr__(self, "derived", tuple(derived))

    def replace(self, **changes: object) -> Settings:
        """Return a copy with ``changes`` applied; ``None`` values are ignored.

        Folders derived from ``root`` are derived again from a new ``root`` unless given too.
        """
        given: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        if "root" in given:
            given.update({name: _DERIVED for name in self.derived if name not in given})
        return dataclasses.replace(self, **given)

    def parameters(self) -> dict[str, object]:
        """The settings as plain values (paths as text), e.g. to record with an evaluation run."""
        return {f.name: str(v) if isinstance(v, Path) else v
                for f in dataclasses.fields(self) if f.init for v in [getattr(self, f.name)]}

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root when it lies inside it, else absolute."""
        path = Path(path).resolve()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


_ENV_TYPES = {f.name: f.type for f in dataclasses.fields(Settings) if f.init}


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``ASSISTANT_<FIELD>`` environment variables (e.g. ``ASSISTANT_MODEL``).

    Args:
        environ: Variables to read. Default: ``os.environ``.
        **overrides: Values that win over the environment (e.g. CLI flags); None is ignored.

    Raises:
        ConfigError: a variable that is not a number where one is needed, or an unknown backend.
    """
    environ = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for name, kind in _ENV_TYPES.items():
        key = f"ASSISTANT_{name.upper()}"
        value = environ.get(key)
        if value:
            changes[name] = _parse(key, value, str(kind))
    changes.update((k, v) for k, v in overrides.items() if v is not None)
    return Settings(**changes)


def _parse(key: str, value: str, kind: str) -> object:
    for name, cast in (("int", int), ("float", float)):
        if name in kind:
            try:
                return cast(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, not {value!r}") from None
    return Path(value) if "Path" in kind else value

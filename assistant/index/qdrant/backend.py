"""The Qdrant store behind the search operations retrieval needs: top-k candidates, not score arrays.

``QdrantSearch`` answers dense top-k with filters, BM25 top-k, the cosine of chosen rows and sentence
top-k for one loaded generation, each as ``(row, score)`` best first. Sentence vectors stay in the
generation (``sentences.npy``) and are searched here, among the sentences of allowed passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import AssistantError, ConfigError
from ..store import Snapshot
from .client import ClientTransport
from .collection import QdrantStore, SyncReport
from .edge import EdgeTransport
from .plan import Condition, Transport, conditions

STORES = ("faiss", "qdrant")


@dataclass(frozen=True, slots=True)
class QdrantOptions:
    """Where the collection lives: a server ``url``, else a local-mode ``path`` (or Edge's shard with ``edge``)."""

    url: str | None = None
    path: Path | None = None
    collection: str = "articles"
    edge: bool = False
    exact: bool = False
    fusion: str = "client"


def open_transport(options: QdrantOptions) -> Transport:
    """The transport ``options`` name.

    Raises:
        ConfigError: neither a URL nor a folder, or Edge asked for without a folder.
    """
    if options.edge:
        if options.path is None:
            raise ConfigError("Qdrant Edge needs a folder: give --qdrant-path DIR")
        return EdgeTransport(options.path / options.collection)
    if not options.url and options.path is None:
        raise ConfigError("the Qdrant store needs --qdrant-url URL or --qdrant-path DIR")
    return ClientTransport(options.collection, url=options.url, path=options.path)


class QdrantSearch:
    """One generation's passages searched in Qdrant (synced on open), its sentences searched here."""

    def __init__(self, snapshot: Snapshot, transport: Transport, *, exact: bool = False,
                 fusion: str = "client") -> None:
        self.snapshot = snapshot
        self.store = QdrantStore(transport, exact=exact, fusion=fusion)
        counts = [len(p.sentences) for p in snapshot.passages]
        self._owner = np.repeat(np.arange(len(counts)), counts)
        self._source_of = np.array([p.source_id for p in snapshot.passages], dtype=object)
        self.report: SyncReport = self.store.sync(key(snapshot), snapshot.passages, snapshot.dense_matrix(),
                                                   snapshot.manifest.sources)

    def where(self, sources: Sequence[str] = (), publishers: Sequence[str] = (), since: str | None = None,
              until: str | None = None) -> tuple[Condition, ...]:
        """Filters as payload conditions; an unknown source is a one-line error, as in the retriever."""
        unknown = set(sources) - set(self.snapshot.manifest.sources)
        if unknown:
            raise AssistantError(f"no such source: {', '.join(sorted(unknown))}; see `assistant sources`")
        return conditions(sources, publishers, since, until)

    def dense(self, vector: np.ndarray, k: int, where: tuple[Condition, ...] = ()) -> list[tuple[int, float]]:
        """Dense top-``k`` among the passages ``where`` allows."""
        return self.store.dense(vector, k, where)

    def bm25(self, tokens: Sequence[str], k: int, where: tuple[Condition, ...] = ()) -> list[tuple[int, float]]:
        """BM25 top-``k`` for the question's tokens."""
        return self.store.bm25(tokens, k, where)

    def hybrid(self, vector: np.ndarray, tokens: Sequence[str], k: int, rrf_k: int, bm25_weight: float,
               where: tuple[Condition, ...] = ()) -> list[tuple[int, float]]:
        """Fused top-``k`` (see ``QdrantStore.hybrid``)."""
        return self.store.hybrid(vector, tokens, k, rrf_k, bm25_weight, where)

    def cosine(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """Cosine of the question with chosen passages."""
        return self.store.cosine(vector, rows)

    def sentences(self, vector: np.ndarray, n: int, allowed_sources: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """Top-``n`` sentence rows nearest ``vector``, among passages of ``allowed_sources`` (None: all)."""
        matrix = self.snapshot.sentence_vectors
        if not len(matrix) or n <= 0:
            return []
        score = (matrix @ vector).astype(np.float64)
        if allowed_sources is not None:
            score = np.where(np.isin(self._source_of, list(allowed_sources))[self._owner], score, -np.inf)
        rows = np.argsort(-score, kind="stable")[:n]
        return [(int(r), float(score[r])) for r in rows if np.isfinite(score[r])]

    def close(self) -> None:
        self.store.transport.close()


def key(snapshot: Snapshot) -> str:
    """What names a generation in the collection's state record: generation, build time, passages, model."""
    m = snapshot.manifest
    return f"{m.generation}:{m.built}:{m.passages}|{m.model.name}:{m.model.backend}:{m.model.dim}"

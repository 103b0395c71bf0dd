"""The Qdrant search backend (``--store qdrant``): passages searched in Qdrant, sentences in the generation.

Dense and BM25 candidates and passage cosines come from the collection (filters as payload
conditions, so a server filters them); the generation is synced into it when opened. Sentence search
stays with the embedded backend over ``sentences.npy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...config import Settings
from .. import lexical, store
from ..search import DEPTH, Allowed, Candidates
from ..search.embedded import Embedded
from .backend import QdrantOptions, key, open_transport
from .collection import QdrantStore, SyncReport
from .plan import Condition, Transport, conditions


def options(settings: Settings) -> QdrantOptions:
    """Where ``settings`` put the collection: ``qdrant_url``, else ``qdrant_path`` (default ``index/qdrant``)."""
    path = Path(settings.qdrant_path) if settings.qdrant_path else settings.index_dir / "qdrant"
    return QdrantOptions(url=settings.qdrant_url or None, path=None if settings.qdrant_url else path,
                         collection=settings.qdrant_collection)


class QdrantBackend:
    """``index.search.SearchBackend`` over a Qdrant collection."""

    def __init__(self, settings: Settings, snapshot: store.Snapshot, lex: lexical.Lexical,
                 transport: Transport | None = None) -> None:
        self.sentences_here = Embedded(settings, snapshot, lex)
        self.store = QdrantStore(transport or open_transport(options(settings)), exact=settings.dense_index == "flat")
        # The exact index's vectors are shared, not copied: a sync that finds the collection current reads none.
        shared = self.sentences_here.matrix
        vectors = shared if shared is not None else snapshot.dense_matrix()
        self.report: SyncReport = self.store.sync(key(snapshot), snapshot.passages, vectors, snapshot.manifest.sources)
        self.depth = DEPTH

    @property
    def transport(self) -> Transport:
        """The connection to the collection (lent to the backend of the next generation)."""
        return self.store.transport

    def dense(self, vector: np.ndarray, k: int, allowed: Allowed | None = None) -> Candidates:
        return _candidates(self.store.dense(vector, k, _where(allowed)))

    def bm25(self, tokens: Sequence[str], k: int, allowed: Allowed | None = None) -> Candidates:
        return _candidates(self.store.bm25(tokens, k, _where(allowed)))

    def cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.store.cosine(vector, [int(r) for r in rows])

    def sentences(self, vector: np.ndarray, k: int, allowed: Allowed | None = None,
                  near: np.ndarray | None = None) -> Candidates:
        return self.sentences_here.sentences(vector, k, allowed, near)

    def sentence_cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.sentences_here.sentence_cosine(vector, rows)

    def close(self) -> None:
        self.store.transport.close()


def _where(allowed: Allowed | None) -> tuple[Condition, ...]:
    if allowed is None:
        return ()
    f = allowed.filters
    return conditions(f.sources, f.publishers, f.since, f.until)


def _candidates(found: list[tuple[int, float]]) -> Candidates:
    return Candidates(np.array([r for r, _ in found], dtype=np.int64), np.array([s for _, s in found], dtype=np.float32))

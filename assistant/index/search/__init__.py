"""Search backends: what finds passages and sentences for a question, without scoring every one.

A backend answers five questions about one loaded generation of the index (rows are positions in
``Snapshot.passages``; sentence rows are positions in the passages' sentences, passage by passage):

- ``dense``: the ``k`` passages nearest a question vector (cosine), among the allowed ones;
- ``bm25``: the ``k`` passages with the highest BM25 score for the question's tokens (score > 0);
- ``cosine``: the cosine of chosen passages to a vector, on demand;
- ``sentences``: the ``k`` sentences nearest a vector (a backend may look only among the
  sentences of ``near``, the passages the question's candidates came from);
- ``sentence_cosine``: the cosine of chosen sentences to a vector.

Fusion of the dense and BM25 lists is the caller's (``answer.retrieve.rrf``), over the union of the
two lists, each ``depth`` long: the answer also needs each list's top 5 and the cosine of every fused
passage. An exact backend's depth is every passage (the fusion of the full rankings); an approximate
one's is ``DEPTH``.
``open_backend`` picks the backend the manifest records; the embedded FAISS + bm25s one is in
``embedded.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # store imports search.vectors, so only for annotations here
    from ...config import Settings
    from .. import lexical, store

DEPTH = 1000  # list depth for the fusion of an approximate backend

__all__ = ["DEPTH", "Allowed", "Candidates", "Filters", "SearchBackend", "open_backend", "top_k"]


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrict retrieval to some sources. Empty fields restrict nothing; dates are ISO, inclusive."""

    sources: tuple[str, ...] = ()
    publishers: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True, slots=True)
class Allowed:
    """The passages a search may return, said twice: as ``filters`` (for a backend that filters on
    payloads server-side) and as ``mask``, one bool per passage row (resolved from the manifest)."""

    filters: Filters
    mask: np.ndarray


@dataclass(frozen=True, slots=True)
class Candidates:
    """Rows and their scores, best first (ties in row order)."""

    rows: np.ndarray  # int64
    scores: np.ndarray  # float32 cosine or BM25, float64 when fused

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, k: int) -> Candidates:
        """The first ``k``."""
        return Candidates(self.rows[:k], self.scores[:k])

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class SearchBackend(Protocol):
    """What the retriever needs from an index; see the module docstring."""

    depth: int  # how deep the dense and BM25 lists go for fusion, unless settings.fusion_depth says

    def dense(self, vector: np.ndarray, k: int, allowed: Allowed | None = None) -> Candidates:
        """The ``k`` allowed passages nearest ``vector`` (unit length) by cosine."""
        ...

    def bm25(self, tokens: Sequence[str], k: int, allowed: Allowed | None = None) -> Candidates:
        """The ``k`` allowed passages with the highest BM25 score for ``tokens``; only scores > 0."""
        ...

    def cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of passages ``rows`` to ``vector`` (float32, same order)."""
        ...

    def sentences(self, vector: np.ndarray, k: int, allowed: Allowed | None = None,
                  near: np.ndarray | None = None) -> Candidates:
        """The ``k`` allowed sentences nearest ``vector``; a backend may search only the sentences of
        passages ``near`` (rows), the candidates of the same question."""
        ...

    def sentence_cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of sentences ``rows`` to ``vector`` (float32, same order)."""
        ...

    def close(self) -> None:
        """Let go of what the backend holds outside the process's memory (a client, a folder lock)."""
        ...


def open_backend(settings: Settings, snapshot: store.Snapshot, lex: lexical.Lexical,
                 previous: SearchBackend | None = None) -> SearchBackend:
    """The backend for ``snapshot``, as its manifest records it (``manifest.search``), or Qdrant's
    when ``settings.store`` says so. ``previous``, the backend of the generation before, lends its
    connection: a Qdrant folder admits one client, and questions in flight may still be using it."""
    from .embedded import Embedded

    if settings.store == "qdrant":
        from ..qdrant.search import QdrantBackend

        return QdrantBackend(settings, snapshot, lex, previous.transport if isinstance(previous, QdrantBackend) else None)

    return Embedded(settings, snapshot, lex)


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties in index order; O(n) rather than a full sort."""
    if k >= len(score):
        return np.argsort(-score, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = score[np.argpartition(-score, k - 1)[k - 1]]
    above = np.flatnonzero(score > kth)
    chosen = np.concatenate([above, np.flatnonzero(score == kth)[: k - len(above)]])
    return chosen[np.lexsort((chosen, -score[chosen]))]


def best(score: np.ndarray, k: int, mask: np.ndarray | None = None, positive: bool = False) -> Candidates:
    """Candidates of the ``k`` best entries of a full ``score`` array, among ``mask`` (and > 0 if ``positive``)."""
    if mask is not None:
        score = np.where(mask, score, -np.inf)
        k = min(k, int(mask.sum()))
    rows = top_k(score, k).astype(np.int64)
    if positive:
        rows = rows[score[rows] > 0]
    return Candidates(rows, score[rows])

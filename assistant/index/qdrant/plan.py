"""The one query builder: dense, BM25 and fused searches with their filters, as plain values.

Both transports (``client`` for qdrant-client, ``edge`` for Qdrant Edge) translate a ``Plan`` word for
word into their own request classes, so what is asked of Qdrant is decided here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from ...errors import ConfigError
from .bm25 import SparseVector, query_vector

DENSE = "dense"  # the names of the collection's two vectors
SPARSE = "bm25"
MAX_COPIES = 6  # most prefetches a weighted fusion is spelled out with (see ``hybrid``)


@dataclass(frozen=True, slots=True)
class Condition:
    """A payload field that must hold one of ``any_of``, or a whole number within [gte, lte]."""

    key: str
    any_of: tuple[str, ...] = ()
    gte: int | None = None
    lte: int | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """One nearest-neighbour search: a dense vector (cosine) or a BM25 sparse vector."""

    using: str  # DENSE or SPARSE
    dense: tuple[float, ...] = ()
    sparse: SparseVector | None = None
    limit: int = 10
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """A query: one search, or several fused by reciprocal rank (``rrf_k`` set), all under ``conditions``.

    Fusion scores a point ``sum(1 / (rank / w + rrf_k - 1))`` over the searches that found it (Qdrant's
    weighted RRF, rank counted from 1; ``weights`` empty means all 1.0).
    """

    searches: tuple[Search, ...]
    limit: int
    conditions: tuple[Condition, ...] = ()
    rrf_k: int | None = None
    weights: tuple[float, ...] = ()


def conditions(sources: Sequence[str] = (), publishers: Sequence[str] = (), since: str | None = None,
               until: str | None = None) -> tuple[Condition, ...]:
    """Payload conditions for retrieval filters (publishers match case-insensitively; undated drop out
    when a date bound is given)."""
    found = []
    if sources:
        found.append(Condition("source", any_of=tuple(sources)))
    if publishers:
        found.append(Condition("publisher_key", any_of=tuple(p.casefold() for p in publishers)))
    if since or until:
        found.append(Condition("day", gte=day(since) if since else None, lte=day(until) if until else None))
    return tuple(found)


def day(text: str) -> int:
    """An ISO date as the whole number YYYYMMDD, which orders as the date does.

    Raises:
        ConfigError: not a YYYY-MM-DD date.
    """
    try:
        d = date.fromisoformat(text[:10])
    except ValueError:
        raise ConfigError(f"{text!r} is not a date; use YYYY-MM-DD") from None
    return d.year * 10_000 + d.month * 100 + d.day


def dense(vector: Sequence[float], k: int, where: tuple[Condition, ...] = (), exact: bool = False) -> Plan:
    """The ``k`` passages nearest ``vector`` by cosine."""
    return Plan((Search(DENSE, dense=tuple(map(float, vector)), limit=k, exact=exact),), k, where)


def bm25(tokens: Sequence[str], k: int, where: tuple[Condition, ...] = ()) -> Plan:
    """The ``k`` best passages by BM25 for the question's ``tokens`` (only passages sharing a token)."""
    return Plan((Search(SPARSE, sparse=query_vector(tokens), limit=k),), k, where)


def hybrid(vector: Sequence[float], tokens: Sequence[str], k: int, depth: int, rrf_k: int, bm25_weight: float,
           where: tuple[Condition, ...] = (), exact: bool = False, spell_out: bool = True) -> Plan:
    """Dense and BM25 top-``depth`` fused by reciprocal rank into the ``k`` best.

    The retriever fuses ``1 / (rrf_k + rank)`` plus ``bm25_weight / (rrf_k + rank)``. Qdrant's weighted
    RRF puts the weight inside the rank instead, ``1 / (rank / w + k - 1)``, which ranks differently; with
    equal weights and ``k = rrf_k + 1`` it is the same. So with ``spell_out`` (the default) a weight of
    p/q is spelled out as q copies of the dense search and p of the BM25 one, all weighing 1, when that
    takes at most ``MAX_COPIES`` searches; otherwise Qdrant's own weights are used.
    """
    if rrf_k < 0 or bm25_weight < 0:
        raise ConfigError("the fusion constant and the BM25 weight must not be negative")
    d = Search(DENSE, dense=tuple(map(float, vector)), limit=depth, exact=exact)
    if not tokens:  # nothing to match: the fusion would rank by the dense search alone
        return Plan((d,), k, where, rrf_k=rrf_k + 1)
    s = Search(SPARSE, sparse=query_vector(tokens), limit=depth)
    ratio = Fraction(bm25_weight).limit_denominator(MAX_COPIES)
    if spell_out and ratio == Fraction(bm25_weight) and 0 < ratio.numerator + ratio.denominator <= MAX_COPIES:
        copies = (d,) * ratio.denominator + (s,) * ratio.numerator
        return Plan(copies, k, where, rrf_k=rrf_k + 1)
    return Plan((d, s), k, where, rrf_k=rrf_k + 1, weights=(1.0, float(bm25_weight)))


def fuse(rankings: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float], c: int) -> list[tuple[int, float]]:
    """The retriever's fusion of rankings of (row, score): ``weight / (c + rank)`` summed, ties in row order."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (c + rank)
    return sorted(fused.items(), key=lambda hit: (-hit[1], hit[0]))


@dataclass(frozen=True, slots=True)
class Point:
    """A point to write: both vectors (none for the collection's state record) and its payload."""

    id: str
    payload: Mapping[str, Any]
    dense: tuple[float, ...] = ()
    sparse: SparseVector | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A point a query returned, best first, with the payload fields asked for."""

    id: str
    score: float
    payload: Mapping[str, Any] = field(default_factory=dict)


class Transport(Protocol):
    """What the collection needs from Qdrant; ``client.ClientTransport`` and ``edge.EdgeTransport`` provide it."""

    def create(self, dim: int) -> None:
        """Create the collection (dense cosine ``dim``, sparse BM25 with IDF, indexed payload fields) unless it exists."""

    def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points by id."""

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id."""

    def set_payload(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Set payload fields of existing points, by id."""

    def scroll(self, fields: Sequence[str]) -> list[Found]:
        """Every point with the payload ``fields`` (score 0)."""

    def retrieve(self, ids: Sequence[str], fields: Sequence[str] = (), dense: bool = False) -> dict[str, Any]:
        """Points by id: ``{id: (payload, dense vector or None)}``; missing ids are left out."""

    def query(self, plan: Plan, fields: Sequence[str]) -> list[Found]:
        """Run ``plan``."""

    def settle(self) -> None:
        """Make deletions leave the IDF statistics (the engine vacuums deleted points)."""

    def close(self) -> None:
        """Release the collection."""


def as_vector(values: Any) -> np.ndarray:
    """A stored dense vector as float32."""
    return np.asarray(values, dtype=np.float32)

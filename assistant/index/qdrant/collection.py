"""One archive's collection kept in step with an index generation, and searched.

The index generation (its manifest and passages) stays the source of truth: ``sync`` compares what the
collection holds with it and upserts, re-weights, renumbers or deletes points by id until they agree,
so an interrupted sync is finished by the next one. A payload-only state record names the generation
the collection last agreed with, so opening an unchanged index reads one point, not all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError, IndexCorruptError
from ...types import Passage
from .. import lexical
from ..store import SourceEntry
from . import bm25, plan
from .plan import Point, Transport

NAMESPACE = uuid.UUID("5b0f3a52-6d1e-4c43-9a57-1f8f4f1d2c60")  # point ids: uuid5 of the passage id
STATE_ID = str(uuid.uuid5(NAMESPACE, "\0state"))
FIELDS = ("passage",)  # payload a search reads back
FUSIONS = ("server", "client")
SLACK = 10  # extra points a single search fetches, so that scores tied at the cut are all seen
_RESYNC = "the Qdrant collection is out of step with the index; run `assistant index`"


def point_id(passage_id: str) -> str:
    """The stable point id of a passage ("<source-id>#<n>")."""
    return str(uuid.uuid5(NAMESPACE, passage_id))


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What ``sync`` changed; ``current`` when the state record already named this generation."""

    upserted: int = 0
    reweighted: int = 0  # of the upserted: unchanged passages whose BM25 weights were renewed
    deleted: int = 0
    collisions: int = 0  # distinct tokens sharing a term id
    current: bool = False


class QdrantStore:
    """Dense, BM25 and fused search of one generation's passages in Qdrant; results are (row, score).

    Points name their passage, not its row: rows move whenever an article earlier in the index changes,
    and renumbering every later point would make each update cost as much as the archive. Equal scores
    rank in index order, as in the retriever (Qdrant orders them by where it stored the points).

    Args:
        transport: The collection (``client.ClientTransport`` or ``edge.EdgeTransport``).
        exact: Dense search without the HNSW approximation.
        depth: How many of each ranking a fused search takes in.
        avgdl_tolerance: Relative change of the mean passage length up to which points keep the BM25
            weights they were written with (0: every change re-weights every point, as bm25s does).
        fusion: ``server``: Qdrant fuses the two rankings (one query with two prefetches); ``client``:
            Qdrant returns both rankings and they are fused here, equal scores in index order as the
            retriever ranks them (Qdrant ranks them by storage order, which moves fused ranks).
    """

    def __init__(self, transport: Transport, *, exact: bool = False, depth: int = 100,
                 avgdl_tolerance: float = 0.0, fusion: str = "client") -> None:
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {fusion!r}; choose {' or '.join(FUSIONS)}")
        self.transport, self.exact, self.depth, self.tolerance = transport, exact, depth, avgdl_tolerance
        self.fusion = fusion
        self.ids: list[str] = []  # point id of each row
        self.passages: Sequence[Passage] = ()
        self.row_of: dict[str, int] = {}
        self.key = ""  # the generation synced last

    def sync(self, key: str, passages: Sequence[Passage], vectors: np.ndarray,
             sources: Mapping[str, SourceEntry]) -> SyncReport:
        """Make the collection hold exactly ``passages`` (row i with ``vectors[i]``), named ``key``.

        Args:
            key: Names the generation (and model); a state record holding it means nothing to do.
            passages: The generation's passages, in index order.
            vectors: One normalised row per passage.
            sources: The manifest's sources, for the payload (publisher, date).
        """
        self.transport.create(int(vectors.shape[1]) if vectors.ndim == 2 else 0)
        items = list(passages)  # a generation's passages are read from disk: once here, not three times
        self.passages, self.ids = passages, [point_id(p.id) for p in items]
        self.row_of = {p.id: i for i, p in enumerate(items)}
        self.key = key
        state = self.transport.retrieve([STATE_ID], ["key"]).get(STATE_ID)
        if state is not None and state[0].get("key") == key:
            return SyncReport(current=True)
        tokens = lexical.tokenize([p.text for p in items]) if items else []
        avgdl = bm25.average_length(tokens)
        have = {f.id: f.payload for f in self.transport.scroll(["digest", "avgdl"]) if f.id != STATE_ID}
        upserts, reweighted = [], 0
        for row, (p, pid) in enumerate(zip(items, self.ids)):
            old = have.get(pid)
            digest = _digest(key, p, sources[p.source_id])
            stale = old is None or old.get("digest") != digest
            drifted = not stale and abs(float(old.get("avgdl", 0)) - avgdl) > self.tolerance * avgdl  # type: ignore[union-attr]
            if stale or drifted:
                reweighted += drifted
                upserts.append(_point(pid, p, vectors[row], tokens[row], avgdl, digest, sources[p.source_id]))
        gone = sorted(set(have) - set(self.ids))
        self.transport.upsert(upserts)
        self.transport.delete(gone)
        self.transport.settle()
        self.transport.upsert([Point(STATE_ID, {"key": key, "avgdl": avgdl, "term_hash": bm25.HASH})])
        clash = len(bm25.collisions(t for ts in tokens for t in ts))
        return SyncReport(len(upserts), reweighted, len(gone), clash)

    def dense(self, vector: np.ndarray, k: int, where: tuple[plan.Condition, ...] = ()) -> list[tuple[int, float]]:
        """The ``k`` rows nearest ``vector`` by cosine, best first."""
        return self._run(plan.dense(vector.tolist(), k + SLACK, where, self.exact), k)

    def bm25(self, tokens: Sequence[str], k: int, where: tuple[plan.Condition, ...] = ()) -> list[tuple[int, float]]:
        """The ``k`` best rows by BM25 for the question's tokens (``lexical.terms``); only rows sharing one."""
        return self._run(plan.bm25(tokens, k + SLACK, where), k) if tokens else []

    def hybrid(self, vector: np.ndarray, tokens: Sequence[str], k: int, rrf_k: int, bm25_weight: float,
               where: tuple[plan.Condition, ...] = (), spell_out: bool = True) -> list[tuple[int, float]]:
        """The ``k`` best rows by reciprocal rank fusion of dense and BM25, done by Qdrant (see ``plan.hybrid``)."""
        depth = max(self.depth, k + SLACK)
        if self.fusion == "client":
            dense = self._run(plan.dense(vector.tolist(), depth + SLACK, where, self.exact), depth)
            sparse = self.bm25(tokens, depth, where)
            return plan.fuse([dense, sparse], [1.0, bm25_weight], rrf_k)[:k]
        return self._run(plan.hybrid(vector.tolist(), tokens, k + SLACK, depth, rrf_k, bm25_weight, where,
                                     self.exact, spell_out), k)

    def cosine(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """Cosine of ``vector`` with the stored vectors of ``rows``, in that order."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        ids = [self.ids[r] for r in rows]
        found = self.transport.retrieve(ids, dense=True)
        if len(found) != len(set(ids)) and not self._moved_on():
            raise IndexCorruptError(_RESYNC)
        query = np.asarray(vector, dtype=np.float32)
        # A point the next generation took out counts as unrelated (cosine 0) for a question still in flight.
        return np.array([np.dot(found[i][1], query) if i in found else 0.0 for i in ids], dtype=np.float32)

    def _run(self, query: plan.Plan, k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        hits = [(self.row_of.get(str(f.payload.get("passage"))), f.score) for f in self.transport.query(query, FIELDS)]
        known = [(row, score) for row, score in hits if row is not None]
        if len(known) < len(hits) and not self._moved_on():
            raise IndexCorruptError(_RESYNC)
        return in_index_order(known)[:k]

    def _moved_on(self) -> bool:
        """Whether the collection now holds a later generation than this store's (synced by another
        process or the next reload): its points are then unknown here without anything being wrong."""
        state = self.transport.retrieve([STATE_ID], ["key"]).get(STATE_ID)
        return state is not None and state[0].get("key") != self.key


def in_index_order(hits: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Hits best first, equal scores in row order.

    Equal means equal here: copies of a passage have the same vectors and tokens, so Qdrant scores
    them exactly alike too. Scores a rounding error apart are left in Qdrant's order (float32 sums in
    another order than FAISS and bm25s may swap them; the parity benchmark counts how often).
    """
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))


def _digest(key: str, p: Passage, source: SourceEntry) -> str:
    # The model part of the key, the text and where it stands, and what filters read.
    model = key.split("|", 1)[-1]
    fields = [model, p.id, p.text, p.start, p.end, source.publisher, source.published]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def _point(pid: str, p: Passage, vector: np.ndarray, tokens: Sequence[str], avgdl: float, digest: str,
           source: SourceEntry) -> Point:
    payload: dict[str, Any] = {"passage": p.id, "source": p.source_id, "start": p.start, "end": p.end,
                               "publisher": source.publisher, "published": source.published, "digest": digest,
                               "avgdl": avgdl}
    if source.publisher:
        payload["publisher_key"] = source.publisher.casefold()
    if source.published:
        with contextlib.suppress(ConfigError):  # otherwise undated for the date filters
            payload["day"] = plan.day(source.published)
    dense = tuple(float(x) for x in vector)
    return Point(pid, payload, dense, bm25.document_vector(tokens, avgdl))

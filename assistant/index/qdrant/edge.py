"""Plans run in Qdrant Edge (``qdrant-edge-py``): the Qdrant engine's own shard, in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .plan import DENSE, SPARSE, Condition, Found, Plan, Point, Search, as_vector

BATCH = 256  # points per update operation
INDEXED = {"source": "Keyword", "publisher_key": "Keyword", "day": "Integer"}  # payload indexes for the filters


class EdgeTransport:
    """One shard in ``folder`` (created on first use); what a collection is to a server."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._shard: Any = None

    def create(self, dim: int) -> None:
        import qdrant_edge as q

        # Deleted and replaced points count in the engine's IDF until their segment is vacuumed, which
        # ``settle`` asks for; these thresholds let it vacuum after any deletion.
        config = q.EdgeConfig(
            vectors={DENSE: q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine)},
            sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
            optimizers=q.EdgeOptimizersConfig(deleted_threshold=0.0001, vacuum_min_vector_number=1))
        if self._shard is not None:
            return
        if (self.folder / "edge_config.json").exists():
            self._shard = q.EdgeShard.load(str(self.folder), config)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shard = q.EdgeShard.create(str(self.folder), config)
        for name, kind in INDEXED.items():
            self._shard.update(q.UpdateOperation.create_field_index(name, getattr(q.PayloadSchemaType, kind)))

    def upsert(self, points: Sequence[Point]) -> None:
        import qdrant_edge as q

        for i in range(0, len(points), BATCH):
            batch = [q.Point(p.id, _vectors(p), dict(p.payload)) for p in points[i : i + BATCH]]
            self._shard.update(q.UpdateOperation.upsert_points(batch))

    def delete(self, ids: Sequence[str]) -> None:
        import qdrant_edge as q

        for i in range(0, len(ids), BATCH):
            self._shard.update(q.UpdateOperation.delete_points(list(ids[i : i + BATCH])))

    def set_payload(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        import qdrant_edge as q

        for pid, v in values.items():
            self._shard.update(q.UpdateOperation.set_payload([pid], dict(v)))

    def scroll(self, fields: Sequence[str]) -> list[Found]:
        import qdrant_edge as q

        found: list[Found] = []
        offset: Any = None
        while True:
            records, offset = self._shard.scroll(q.ScrollRequest(
                offset=offset, limit=1024, with_payload=q.PayloadSelector.Include(list(fields)), with_vector=False))
            found += [Found(str(r.id), 0.0, r.payload or {}) for r in records]
            if offset is None:
                return found

    def retrieve(self, ids: Sequence[str], fields: Sequence[str] = (), dense: bool = False) -> dict[str, Any]:
        import qdrant_edge as q

        payload: Any = q.PayloadSelector.Include(list(fields)) if fields else False
        records = self._shard.retrieve(list(ids), payload, [DENSE] if dense else False)
        return {str(r.id): (r.payload or {}, as_vector(r.vector[DENSE]) if dense and isinstance(r.vector, dict) else None)
                for r in records}

    def query(self, plan: Plan, fields: Sequence[str]) -> list[Found]:
        import qdrant_edge as q

        where = _filter(plan.conditions)
        selector = q.PayloadSelector.Include(list(fields))
        if plan.rrf_k is None:
            (only,) = plan.searches
            request = q.QueryRequest(limit=plan.limit, query=_query(only), filter=where, params=_params(only),
                                     with_payload=selector, with_vector=False)
        else:
            fusion: Any = q.Fusion.Rrf(k=plan.rrf_k, weights=list(plan.weights) or None)  # the stub omits it from query
            prefetches = [q.Prefetch(limit=s.limit, query=_query(s), filter=where, params=_params(s))
                          for s in plan.searches]
            request = q.QueryRequest(limit=plan.limit, query=fusion, prefetches=prefetches, filter=where,
                                     with_payload=selector, with_vector=False)
        return [Found(str(p.id), float(p.score), p.payload or {}) for p in self._shard.query(request)]

    def settle(self) -> None:
        self._shard.optimize()
        self._shard.flush()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def _vectors(p: Point) -> Any:
    import qdrant_edge as q

    if p.sparse is None:
        return {}  # the state record: payload only, found by no search
    return {DENSE: list(p.dense), SPARSE: q.SparseVector(list(p.sparse.indices), list(p.sparse.values))}


def _query(s: Search) -> Any:
    import qdrant_edge as q

    if s.sparse is not None:
        return q.Query.Nearest(q.SparseVector(list(s.sparse.indices), list(s.sparse.values)), using=SPARSE)
    return q.Query.Nearest(list(s.dense), using=DENSE)


def _params(s: Search) -> Any:
    import qdrant_edge as q

    return q.SearchParams(exact=True) if s.exact else None


def _filter(conditions: Sequence[Condition]) -> Any:
    import qdrant_edge as q

    if not conditions:
        return None
    return q.Filter(must=[q.FieldCondition(key=c.key, match=q.MatchAny(list(c.any_of))) if c.any_of else
                          q.FieldCondition(key=c.key, range=q.RangeFloat(gte=c.gte, lte=c.lte)) for c in conditions])

"""Plans sent through ``qdrant-client``: to a Qdrant server or cluster by URL, or to its local mode by path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .plan import DENSE, SPARSE, Condition, Found, Plan, Point, Search, as_vector

BATCH = 256  # points per upsert request
# Filtered fields get a payload index on a server (local mode has none and warns about them).
INDEXED = {"source": "keyword", "publisher_key": "keyword", "day": "integer"}


class ClientTransport:
    """One collection through ``qdrant_client.QdrantClient``.

    Local mode always searches exhaustively and keeps no payload indexes, so neither search parameters
    nor indexes are sent to it (it warns about both).
    """

    def __init__(self, collection: str, *, url: str | None = None, path: Path | None = None,
                 api_key: str | None = None, timeout: int = 30) -> None:
        from qdrant_client import QdrantClient

        if url:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
        else:
            self._client = QdrantClient(path=str(path) if path else ":memory:")
        self._local = not url
        self.collection = collection

    def create(self, dim: int) -> None:
        from qdrant_client import models as m

        if self._client.collection_exists(self.collection):
            return
        # Deleted and replaced points count in a server's IDF until they are vacuumed: vacuum early.
        self._client.create_collection(
            self.collection, vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            optimizers_config=m.OptimizersConfigDiff(deleted_threshold=0.01, vacuum_min_vector_number=100))
        if not self._local:
            for name, kind in INDEXED.items():
                self._client.create_payload_index(self.collection, name, field_schema=m.PayloadSchemaType(kind))

    def upsert(self, points: Sequence[Point]) -> None:
        from qdrant_client import models as m

        for i in range(0, len(points), BATCH):
            batch = [m.PointStruct(id=p.id, vector=_vectors(p), payload=dict(p.payload)) for p in points[i : i + BATCH]]
            self._client.upsert(self.collection, batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_client import models as m

        for i in range(0, len(ids), BATCH):
            self._client.delete(self.collection, m.PointIdsList(points=list(ids[i : i + BATCH])), wait=True)

    def set_payload(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        from qdrant_client import models as m

        ops = [m.SetPayloadOperation(set_payload=m.SetPayload(payload=dict(v), points=[pid])) for pid, v in values.items()]
        for i in range(0, len(ops), BATCH):
            self._client.batch_update_points(self.collection, ops[i : i + BATCH], wait=True)

    def scroll(self, fields: Sequence[str]) -> list[Found]:
        found: list[Found] = []
        offset: Any = None
        while True:
            records, offset = self._client.scroll(self.collection, limit=1024, offset=offset,
                                                  with_payload=list(fields), with_vectors=False)
            found += [Found(str(r.id), 0.0, r.payload or {}) for r in records]
            if offset is None:
                return found

    def retrieve(self, ids: Sequence[str], fields: Sequence[str] = (), dense: bool = False) -> dict[str, Any]:
        records = self._client.retrieve(self.collection, list(ids), with_payload=list(fields) or False,
                                        with_vectors=[DENSE] if dense else False)
        return {str(r.id): (r.payload or {}, as_vector(r.vector[DENSE]) if dense and isinstance(r.vector, dict) else None)
                for r in records}

    def query(self, plan: Plan, fields: Sequence[str]) -> list[Found]:
        from qdrant_client import models as m

        where = _filter(plan.conditions)
        if plan.rrf_k is None:
            (only,) = plan.searches
            response = self._client.query_points(self.collection, query=_query(only), using=only.using,
                                                 query_filter=where, limit=plan.limit, search_params=self._params(only),
                                                 with_payload=list(fields))
        else:
            fusion = m.Rrf(k=plan.rrf_k, weights=list(plan.weights) or None)
            prefetch = [m.Prefetch(query=_query(s), using=s.using, filter=where, limit=s.limit, params=self._params(s))
                        for s in plan.searches]
            response = self._client.query_points(self.collection, prefetch=prefetch, query=m.RrfQuery(rrf=fusion),
                                                 query_filter=where, limit=plan.limit, with_payload=list(fields))
        return [Found(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def settle(self) -> None:
        """Nothing to wait for: local mode counts live points only, a server vacuums on its own."""

    def close(self) -> None:
        self._client.close()

    def _params(self, search: Search) -> Any:
        from qdrant_client import models as m

        return m.SearchParams(exact=True) if search.exact and not self._local else None


def _vectors(p: Point) -> Any:
    from qdrant_client import models as m

    if p.sparse is None:
        return {}  # the state record: payload only, found by no search
    sparse = m.SparseVector(indices=list(p.sparse.indices), values=list(p.sparse.values))
    return {DENSE: list(p.dense), SPARSE: sparse}


def _query(s: Search) -> Any:
    from qdrant_client import models as m

    if s.sparse is not None:
        return m.SparseVector(indices=list(s.sparse.indices), values=list(s.sparse.values))
    return list(s.dense)


def _filter(conditions: Sequence[Condition]) -> Any:
    from qdrant_client import models as m

    if not conditions:
        return None
    return m.Filter(must=[m.FieldCondition(key=c.key, match=m.MatchAny(any=list(c.any_of))) if c.any_of else
                          m.FieldCondition(key=c.key, range=m.Range(gte=c.gte, lte=c.lte)) for c in conditions])

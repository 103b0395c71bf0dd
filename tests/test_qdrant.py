"""The Qdrant store, through qdrant-client local mode and through Qdrant Edge, against the retriever."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import HashEncoder, write_source

from assistant.answer.retrieve import Filters, Retriever
from assistant.config import Settings
from assistant.errors import AssistantError, ConfigError, IndexCorruptError
from assistant.evals.gold import load_gold
from assistant.index import lexical
from assistant.index.qdrant import bm25, plan
from assistant.index.qdrant.client import ClientTransport
from assistant.index.qdrant.collection import QdrantStore, point_id
from assistant.index.qdrant.edge import EdgeTransport
from assistant.index.store import SourceEntry
from assistant.index.store import load as store_load
from assistant.session import Assistant
from assistant.types import Passage

GOLD = Path(__file__).resolve().parents[1] / "evals" / "gold.jsonl"
TEXTS = ["Section 47 enquiries rose by 129% to 201,000 in 2019-20.",
         "The review found too many investigations and too little support for families.",
         "Families said the review of children's social care came too late; enquiries rose again.",
         "the and of",  # no token survives: an empty BM25 document that still counts in N
         "Josh MacAlister led the independent review of children's social care in England.",
         "Enquiries, enquiries and more enquiries: the care system investigates families."]


class SmoothEncoder(HashEncoder):
    """Each word a random direction, seeded by the word: copies of a text tie exactly, other texts
    almost never come within a rounding error of each other (whole-number bucket counts do)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()) or ["-"]:
                seed = int(hashlib.md5(word.encode()).hexdigest(), 16) % 2**32
                out[i] += np.random.default_rng(seed).normal(size=self.dim).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def open_transport(kind: str, folder: Path) -> ClientTransport | EdgeTransport:
    return ClientTransport("test", path=folder / "local") if kind == "client" else EdgeTransport(folder / "edge")


@pytest.fixture(params=["client", "edge"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClientTransport | EdgeTransport]:
    t = open_transport(request.param, tmp_path)
    yield t
    t.close()


def handmade(texts: list[str] = TEXTS, dim: int = 8, seed: int = 0) -> tuple[list[Passage], np.ndarray, dict[str, SourceEntry]]:
    """One passage per text, each its own article, with random unit vectors (no two scores alike)."""
    passages = [Passage(f"a{i}#0", f"a{i}", t, 0, len(t)) for i, t in enumerate(texts)]
    vectors = np.random.default_rng(seed).normal(size=(len(texts), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sources = {p.source_id: SourceEntry(f"sources/{p.source_id}.md", "", 1, p.source_id,
                                        publisher="Gazette" if i % 2 else "Herald", published=f"2021-06-{10 + i:02d}")
               for i, p in enumerate(passages)}
    return passages, vectors, sources


def bm25s_scores(texts: list[str], question: str, folder: Path) -> np.ndarray:
    lexical.build(texts, folder)
    return lexical.Lexical(folder).scores(question)


def test_bm25_constants_are_those_bm25s_indexes_with() -> None:
    import bm25s

    made = bm25s.BM25()
    assert (made.k1, made.b, made.method) == (bm25.K1, bm25.B, "lucene")


def test_sparse_scores_equal_bm25s_scores(transport: ClientTransport | EdgeTransport, tmp_path: Path) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True)
    store.sync("g1|m", passages, vectors, sources)
    for question in ["enquiries rose", "review of social care families", "enquiries enquiries support", "Ofsted"]:
        ref = bm25s_scores(TEXTS, question, tmp_path / "bm25")
        got = store.bm25(lexical.terms(question), k=10)
        assert [r for r, _ in got] == [int(i) for i in np.argsort(-ref, kind="stable") if ref[i] > 0]
        assert np.allclose([s for _, s in got], [ref[r] for r, _ in got], rtol=1e-5)


def test_dense_scores_are_the_cosines_and_cosine_reads_stored_rows(transport: ClientTransport | EdgeTransport) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True)
    store.sync("g1|m", passages, vectors, sources)
    query = vectors[2] + 0.5 * vectors[4]
    query /= np.linalg.norm(query)
    ref = vectors @ query
    got = store.dense(query, k=4)
    assert [r for r, _ in got] == [int(i) for i in np.argsort(-ref)[:4]]
    assert np.allclose([s for _, s in got], ref[[r for r, _ in got]], atol=1e-5)
    assert np.allclose(store.cosine(query, [5, 0, 3]), ref[[5, 0, 3]], atol=1e-5)


def test_fused_by_qdrant_as_the_retriever_fuses(transport: ClientTransport | EdgeTransport) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True, fusion="server")
    store.sync("g1|m", passages, vectors, sources)
    tokens = lexical.terms("review of care enquiries")
    dense, sparse = store.dense(vectors[1], 10), store.bm25(tokens, 10)
    for weight in (1.0, 1.5, 0.5):
        expected = plan.fuse([dense, sparse], [1.0, weight], 10)
        got = store.hybrid(vectors[1], tokens, 10, rrf_k=10, bm25_weight=weight)
        assert [r for r, _ in got] == [r for r, _ in expected]
        copies = plan.hybrid(vectors[1].tolist(), tokens, 10, 20, 10, weight).searches
        scale = sum(s.using == plan.DENSE for s in copies)  # each dense copy adds one 1 / (c + rank)
        assert np.allclose([s for _, s in got], [scale * s for _, s in expected], rtol=1e-5)


def test_query_builder_spells_out_a_simple_weight_and_falls_back_to_qdrant_weights() -> None:
    built = plan.hybrid([1.0, 0.0], ["care"], k=10, depth=50, rrf_k=10, bm25_weight=1.5)
    assert [s.using for s in built.searches] == [plan.DENSE] * 2 + [plan.SPARSE] * 3
    assert (built.rrf_k, built.weights, built.limit) == (11, (), 10)
    odd = plan.hybrid([1.0, 0.0], ["care"], k=10, depth=50, rrf_k=10, bm25_weight=1.37)
    assert [s.using for s in odd.searches] == [plan.DENSE, plan.SPARSE] and odd.weights == (1.0, 1.37)
    assert [s.using for s in plan.hybrid([1.0], [], 10, 50, 10, 1.5).searches] == [plan.DENSE]


def test_filters_are_payload_conditions(transport: ClientTransport | EdgeTransport) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True)
    store.sync("g1|m", passages, vectors, sources)
    cases = {plan.conditions(sources=["a1", "a4"]): {1, 4},
             plan.conditions(publishers=["gAZETTE"]): {1, 3, 5},
             plan.conditions(since="2021-06-12", until="2021-06-14"): {2, 3, 4},
             plan.conditions(publishers=["Herald"], since="2021-06-13"): {4}}
    for where, rows in cases.items():
        assert {r for r, _ in store.dense(vectors[0], 10, where)} == rows
        assert {r for r, _ in store.hybrid(vectors[0], ["enquiri"], 10, 10, 1.5, where)} == rows
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        plan.conditions(since="June 2021")


def test_incremental_sync_writes_only_what_changed(transport: ClientTransport | EdgeTransport, tmp_path: Path) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True, avgdl_tolerance=1.0)
    assert store.sync("g1|m", passages[:4], vectors[:4], sources).upserted == 4
    assert store.sync("g1|m", passages[:4], vectors[:4], sources).current
    changed = [passages[0], Passage("a1#0", "a1", "A new text about enquiries.", 0, 27), passages[3], *passages[4:]]
    report = store.sync("g2|m", changed, vectors[[0, 1, 3, 4, 5]], sources)
    assert (report.upserted, report.deleted, report.reweighted) == (3, 1, 0)  # a1 changed, a4 a5 new; a2 gone
    exact = QdrantStore(transport, exact=True, avgdl_tolerance=0.0)
    # The two points kept from g1 hold weights for g1's mean passage length: renewed, the others not.
    assert exact.sync("g3|m", changed, vectors[[0, 1, 3, 4, 5]], sources).reweighted == 2
    texts = [p.text for p in changed]
    ref = bm25s_scores(texts, "enquiries", tmp_path / "bm25")
    got = exact.bm25(["enquiri"], 10)
    assert [r for r, _ in got] == [int(i) for i in np.argsort(-ref, kind="stable") if ref[i] > 0]
    assert np.allclose([s for _, s in got], [ref[r] for r, _ in got], rtol=1e-5)  # deletions left the IDF


def test_interrupted_sync_is_finished_by_the_next(tmp_path: Path) -> None:
    passages, vectors, sources = handmade()

    class Killed(Exception):
        pass

    class Crash(EdgeTransport):
        def delete(self, ids: object) -> None:
            if ids:
                raise Killed  # after the upserts, before the deletions and the state record

    crashing = Crash(tmp_path / "edge")
    store = QdrantStore(crashing, exact=True)
    store.sync("g1|m", passages, vectors, sources)
    with pytest.raises(Killed):
        store.sync("g2|m", passages[:3], vectors[:3], sources)
    crashing.close()
    again = QdrantStore(EdgeTransport(tmp_path / "edge"), exact=True)
    report = again.sync("g2|m", passages[:3], vectors[:3], sources)
    assert not report.current and report.deleted == 3
    assert sorted(r for r, _ in again.dense(vectors[0], 10)) == [0, 1, 2]
    again.transport.close()


def test_a_point_the_index_does_not_hold_is_reported(transport: ClientTransport | EdgeTransport) -> None:
    passages, vectors, sources = handmade()
    store = QdrantStore(transport, exact=True)
    store.sync("g1|m", passages, vectors, sources)
    stranger = plan.Point(point_id("x#0"), {"passage": "x#0"}, tuple(vectors[0].tolist()), bm25.document_vector(["x"], 1.0))
    transport.upsert([stranger])
    with pytest.raises(IndexCorruptError, match="assistant index"):
        store.dense(vectors[0], 3)


def test_reopened_collection_needs_no_writes(tmp_path: Path) -> None:
    passages, vectors, sources = handmade()
    for kind in ("client", "edge"):
        first = open_transport(kind, tmp_path)
        QdrantStore(first).sync("g1|m", passages, vectors, sources)
        first.close()
        second = open_transport(kind, tmp_path)
        store = QdrantStore(second, exact=True)
        assert store.sync("g1|m", passages, vectors, sources).current
        assert store.dense(vectors[3], 1)[0][0] == 3
        second.close()
    with pytest.raises(ConfigError, match="fusion"):
        QdrantStore(EdgeTransport(tmp_path / "x"), fusion="both")


@pytest.mark.parametrize("kind", ["client", "edge"])
def test_same_top_ten_as_the_retriever_on_the_gold_questions(archive: Settings, kind: str, tmp_path: Path) -> None:
    encoder = SmoothEncoder()
    write_source(archive, "council", "Council budget", "The council budget rose 4% in 2024. Enquiries fell.")
    Assistant(archive, encoder).update()
    retriever = Retriever(archive, store_load(archive), encoder)
    snap = retriever.snapshot
    transport = open_transport(kind, tmp_path / "q")
    store = QdrantStore(transport, exact=True)
    store.sync("g|m", snap.passages, snap.dense_matrix(), snap.manifest.sources)
    s, sources = archive, sorted(retriever.sources)
    for i, q in enumerate(load_gold(GOLD)[:60]):
        f = [Filters(), Filters(sources=(sources[i % len(sources)],))][i % 2]
        where = plan.conditions(f.sources, f.publishers, f.since, f.until)
        vector, tokens = retriever.encode(q.question), lexical.terms(q.question)
        scores = retriever.score(q.question, f, vector)
        got = {"dense": store.dense(vector, 10, where), "bm25": store.bm25(tokens, 10, where),
               "hybrid": store.hybrid(vector, tokens, 10, s.rrf_k, s.bm25_weight, where)}
        for mode, ranked in got.items():
            ref = [retriever.passages.row(h.passage.id) for h in retriever.rank(scores, 10, mode)]
            assert [r for r, _ in ranked] == ref, (q.id, mode, f)
    transport.close()


@pytest.mark.parametrize("edge", [False, True])
def test_search_backend_over_an_indexed_archive(archive: Settings, encoder: HashEncoder, edge: bool,
                                                tmp_path: Path) -> None:
    from assistant.index.qdrant.backend import QdrantOptions, open_transport
    from assistant.index.qdrant.search import QdrantBackend

    Assistant(archive, encoder).update()
    retriever = Retriever(archive, store_load(archive), encoder)
    options = QdrantOptions(path=tmp_path / "qdrant", edge=edge, exact=True)
    search = QdrantBackend(archive, retriever.snapshot, retriever.lexical, open_transport(options))
    assert search.report.upserted == len(retriever.passages)
    question = "How many Section 47 enquiries were there?"
    vector = retriever.encode(question)
    scores = retriever.score(question, None, vector)
    top = search.dense(vector, 5)
    assert np.allclose(top.scores, scores.similarity(top.rows), atol=1e-5)
    assert np.allclose(search.cosine(vector, top.rows), top.scores, atol=1e-5)
    assert search.bm25(lexical.terms(question), 5).rows.tolist() == \
        [retriever.passages.row(h.passage.id) for h in retriever.rank(scores, 5, "bm25")]
    one = sorted(retriever.sources)[1]
    allowed = retriever.allowed(Filters(sources=(one,)))
    assert {retriever.passages[r].source_id for r in search.dense(vector, 50, allowed).rows} == {one}
    assert search.sentences(vector, 8).rows.tolist() == list(retriever.sentences(scores, 8))
    search.close()
    with pytest.raises(ConfigError, match="--qdrant-url URL or --qdrant-path DIR"):
        open_transport(QdrantOptions())


def test_retriever_with_the_qdrant_store_ranks_as_with_faiss(archive: Settings, tmp_path: Path) -> None:
    encoder = SmoothEncoder()
    Assistant(archive, encoder).update()
    snapshot = store_load(archive)
    faiss = Retriever(archive, snapshot, encoder)
    qdrant = Retriever(archive.replace(store="qdrant", qdrant_path=str(tmp_path / "q")), snapshot, encoder)
    assert qdrant.backend.report.upserted == len(snapshot.passages)  # type: ignore[attr-defined]
    one = sorted(faiss.sources)[2]
    for q in load_gold(GOLD)[:40]:
        for f in (Filters(), Filters(sources=(one,))):
            for mode in ("dense", "bm25", "hybrid"):
                assert [h.passage.id for h in qdrant.search(q.question, 10, mode, f)] == \
                    [h.passage.id for h in faiss.search(q.question, 10, mode, f)], (q.id, mode, f)
    qdrant.backend.close()  # type: ignore[attr-defined]


def test_store_is_chosen_on_the_command_line(archive: Settings, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    bad = CliRunner().invoke(cli, ["--root", str(archive.root), "--store", "milvus", "sources"])
    assert bad.exit_code == 2 and "milvus" in bad.output
    from assistant.config import from_env

    chosen = from_env({"ASSISTANT_STORE": "qdrant", "ASSISTANT_QDRANT_URL": "http://127.0.0.1:6333"})
    assert (chosen.store, chosen.qdrant_url) == ("qdrant", "http://127.0.0.1:6333")


def test_a_new_generation_reopens_the_local_qdrant_folder(archive: Settings, encoder: HashEncoder,
                                                          tmp_path: Path) -> None:
    # qdrant-client's local mode lets one client at a time open a folder: the assistant must let go of
    # the old generation's client before it opens the new one.
    assistant = Assistant(archive.replace(store="qdrant"), encoder)
    assistant.update()
    first = assistant.ask("How many Section 47 enquiries were there?")
    extra = tmp_path / "extra.txt"
    extra.write_text("Council budgets\n\nThe council set aside 4,200 places for foster carers in 2021.\n", "utf-8")
    assistant.add([str(extra)])
    second = assistant.ask("How many places were set aside for foster carers?")
    assert first.citations and "4,200" in second.citations[0].quote
    assistant.close()


def test_a_question_in_flight_survives_the_next_generation(transport: ClientTransport | EdgeTransport) -> None:
    # Two stores on one connection, as an assistant reloading while a question is still being answered.
    passages, vectors, sources = handmade()
    old = QdrantStore(transport, exact=True)
    old.sync("g1|m", passages, vectors, sources)
    new = QdrantStore(transport, exact=True)
    stranger = Passage("x#0", "x", "Another article entirely.", 0, 25)
    new.sync("g2|m", [*passages[1:], stranger], np.vstack([vectors[1:], vectors[:1]]), {**sources, "x": sources["a0"]})
    found = old.dense(vectors[0], 4)  # the new point is not old's to return; passage 0 is gone
    assert found and all(0 < row < len(passages) for row, _ in found)
    assert np.allclose(old.cosine(vectors[1], [0, 1]), [0.0, 1.0], atol=1e-5)

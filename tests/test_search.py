"""Search backends: the exact one against brute force, HNSW, IVF and compact vectors against the exact one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.index import lexical, store
from assistant.index.search import Allowed, Filters, open_backend
from assistant.index.search.vectors import Sentences, build_index, ivf_lists, save_sentences
from assistant.session import Assistant
from assistant.types import Passage
from conftest import HashEncoder

WORDS = "care review council children report foster review budget court school family plan".split()


def _build(tmp_path: Path, n: int = 3000, **search: object) -> tuple[Settings, store.Snapshot, np.ndarray, np.ndarray]:
    """An index of ``n`` passages of two sentences each: clustered vectors, texts from a small vocabulary."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(30, 48)).astype(np.float32)
    vectors = centres[rng.integers(0, 30, n)] + rng.normal(0, 0.35, (n, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sentences = np.repeat(vectors, 2, axis=0) + rng.normal(0, 0.1, (2 * n, 48)).astype(np.float32)
    sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
    passages = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS, 6)) + f" p{i}. " + " ".join(rng.choice(WORDS, 5)) + "."
        cut = text.index(". ") + 1
        passages.append(Passage(f"s{i % 100}#{i}", f"s{i % 100}", text, 0, len(text), ((0, cut), (cut + 1, len(text)))))
    settings = Settings(root=tmp_path, model="m", **search)  # type: ignore[arg-type]
    sources = {f"s{j}": store.SourceEntry(f"s{j}", "", n // 100, f"s{j}") for j in range(100)}
    manifest = store.Manifest(store.ModelInfo("m", 48, "custom"), store.ChunkerInfo(0, 0), "", sources)
    store.write_index(settings, manifest, passages, vectors, sentences)
    return settings, store.load(settings), vectors, sentences


def _backend(settings: Settings, snapshot: store.Snapshot):  # type: ignore[no-untyped-def]
    return open_backend(settings, snapshot, lexical.Lexical(snapshot.path / lexical.FOLDER))


def _allowed(n: int, sources: set[int]) -> Allowed:
    return Allowed(Filters(sources=tuple(f"s{j}" for j in sorted(sources))), np.isin(np.arange(n) % 100, list(sources)))


def test_the_exact_backend_gives_what_scoring_every_passage_gives(tmp_path: Path) -> None:
    settings, snapshot, vectors, sentences = _build(tmp_path)
    backend = _backend(settings, snapshot)
    rng = np.random.default_rng(1)
    allowed = _allowed(len(vectors), {3, 50, 51})
    for q in vectors[rng.integers(0, len(vectors), 10)] + 0.1:
        q = (q / np.linalg.norm(q)).astype(np.float32)
        full = vectors @ q
        assert backend.dense(q, 20).rows.tolist() == np.argsort(-full, kind="stable")[:20].tolist()
        masked = np.where(allowed.mask, full, -np.inf)
        assert backend.dense(q, 20, allowed).rows.tolist() == np.argsort(-masked, kind="stable")[:20].tolist()
        rows = rng.integers(0, len(vectors), 7)
        assert np.array_equal(backend.cosine(q, rows), backend.dense(q, len(vectors)).scores[
            np.argsort(backend.dense(q, len(vectors)).rows)][rows])
        near = backend.sentences(q, 10, allowed)
        expected = np.argsort(-np.where(allowed.mask[np.arange(2 * len(vectors)) // 2], sentences @ q, -np.inf),
                              kind="stable")[:10]
        assert near.rows.tolist() == expected.tolist()
    score = lexical.Lexical(snapshot.path / lexical.FOLDER).scores(["council", "foster"])
    found = backend.bm25(["council", "foster"], 15, allowed)
    expected = [i for i in np.argsort(-np.where(allowed.mask, score, -np.inf), kind="stable")[:15] if score[i] > 0]
    assert found.rows.tolist() == expected and np.all(found.scores > 0)


@pytest.mark.parametrize(("dense", "vectors"), [("hnsw", "float32"), ("hnsw", "int8"), ("flat", "float16"),
                                                 ("flat", "int8"), ("hnsw", "float16"), ("ivf", "float32"),
                                                 ("ivf", "int8"), ("ivf", "float16")])
def test_approximate_and_compact_indexes_find_what_exact_search_finds(tmp_path: Path, dense: str, vectors: str) -> None:
    settings, snapshot, matrix, sentences = _build(tmp_path, dense_index=dense, vectors=vectors)
    assert snapshot.manifest.search == store.SearchInfo(dense, vectors, 32 if dense == "hnsw" else 0,
                                                        ivf_lists(3000) if dense == "ivf" else 0)
    backend = _backend(settings, snapshot)
    rng = np.random.default_rng(2)
    recall, big = [], _allowed(len(matrix), set(range(60)))
    for q in matrix[rng.integers(0, len(matrix), 30)]:
        exact = set(np.argsort(-(matrix @ q))[:10].tolist())
        recall.append(len(exact & set(backend.dense(q, 10).rows.tolist())) / 10)
        rows = rng.integers(0, len(matrix), 5)
        assert np.allclose(backend.cosine(q, rows), matrix[rows] @ q, atol=0.02)
        assert np.allclose(backend.sentence_cosine(q, rows), sentences[rows] @ q, atol=0.02)
        for allowed in (_allowed(len(matrix), {5, 9}), big):  # the first is searched exactly, the second in the graph
            found = backend.dense(q, 10, allowed).rows
            assert len(found) == 10 and allowed.mask[found].all()
    assert np.mean(recall) >= 0.95


@pytest.mark.parametrize("dense", ["hnsw", "ivf"])
def test_approximate_search_looks_for_sentences_among_the_candidate_passages(tmp_path: Path, dense: str) -> None:
    settings, snapshot, matrix, sentences = _build(tmp_path, dense_index=dense)
    backend = _backend(settings, snapshot)
    q = matrix[10]
    near = np.array([4, 10, 2000])
    found = backend.sentences(q, 3, None, near)
    assert set(found.rows.tolist()) <= {8, 9, 20, 21, 4000, 4001}
    assert found.rows.tolist() == sorted([8, 9, 20, 21, 4000, 4001], key=lambda r: -float(sentences[r] @ q))[:3]


def test_ivf_reads_more_lists_for_a_deep_list_or_a_narrow_filter(tmp_path: Path) -> None:
    settings, snapshot, matrix, _ = _build(tmp_path, n=8000, dense_index="ivf", vectors="int8", nprobe=1)
    backend = _backend(settings, snapshot)
    lists = snapshot.manifest.search.ivf_lists
    assert lists == ivf_lists(8000) == 200 and snapshot.vectors.nlist == lists
    q = matrix[3]
    # One list holds about 40 passages: 500 of them need about 25 lists, so more than nprobe = 1 are read.
    deep = backend.dense(q, 500)
    assert len(deep) == 500 and len(set(deep.rows.tolist())) == 500
    assert np.allclose(deep.scores, matrix[deep.rows] @ q, atol=0.02)
    # 30 sources of 100 let 2,400 passages through: above the exact-search cut-off, searched in the lists.
    allowed = _allowed(len(matrix), set(range(30)))
    found = backend.dense(q, 100, allowed)
    assert len(found) == 100 and allowed.mask[found.rows].all()
    exact = np.argsort(-np.where(allowed.mask, matrix @ q, -np.inf))[:10]
    assert len(set(exact.tolist()) & set(found.rows[:10].tolist())) >= 8


def test_the_nprobe_setting_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="nprobe"):
        Settings(nprobe=0)


@pytest.mark.parametrize(("dense", "vectors", "expected"), [("hnsw", "float16", ("hnsw", "float16", 32)),
                                                            ("ivf", "int8", ("ivf", "int8", 0))])
def test_another_search_index_is_built_from_the_stored_vectors_without_embedding(
        archive: Settings, encoder: HashEncoder, dense: str, vectors: str, expected: tuple[str, str, int]) -> None:
    exact = Assistant(archive, encoder)
    exact.update()
    before = exact.ask("How many Section 47 enquiries were there?")
    exact.close()  # with --store qdrant in local mode, one client at a time may open the collection's folder
    embedded = encoder.encoded
    approximate = Assistant(archive.replace(dense_index=dense, vectors=vectors), encoder)
    report = approximate.update()
    assert report.embedded == 0 and report.sentences_embedded == 0 and encoder.encoded == embedded
    search = store.load(archive).manifest.search
    assert (search.dense, search.vectors, search.hnsw_m) == expected and (search.ivf_lists > 0) == (dense == "ivf")
    assert approximate.update().generation is None  # the same settings: nothing to rebuild
    after = approximate.ask("How many Section 47 enquiries were there?")
    assert [c.quote for c in after.citations] == [c.quote for c in before.citations] and before.citations
    for c in after.citations:  # still verbatim slices of the article files
        assert (archive.root / c.source.path).read_text(encoding="utf-8")[c.start : c.end] == c.quote


@pytest.mark.parametrize(("dense", "vectors"), [("ivf", "int8"), ("hnsw", "float16"), ("flat", "int8")])
def test_indexes_and_sentence_files_built_from_blocks_equal_those_built_at_once(tmp_path: Path, dense: str,
                                                                                vectors: str) -> None:
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(5000, 48)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    blocks = [matrix[:1234], matrix[1234:1235], matrix[1235:]]
    whole, pieces = build_index(matrix, dense, vectors, 16), build_index(blocks, dense, vectors, 16)
    assert whole.ntotal == pieces.ntotal == 5000
    assert np.array_equal(whole.reconstruct_n(0, 5000), pieces.reconstruct_n(0, 5000))  # same quantiser, same codes
    if dense != "hnsw":  # a graph depends on the order its threads insert in, even in one batch
        assert np.array_equal(whole.search(matrix[:20], 10)[1], pieces.search(matrix[:20], 10)[1])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    save_sentences(tmp_path / "a", "s.npy", matrix, vectors, 48)
    save_sentences(tmp_path / "b", "s.npy", blocks, vectors, 48)
    for name in ("s.npy", *(["sentence_scales.npy"] if vectors == "int8" else [])):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert np.allclose(Sentences(tmp_path / "b", "s.npy", vectors).all(), matrix, atol=0.01)

"""Exact vs approximate search at millions of passages: what users see, how fast, how much memory.

Run:  .venv/bin/python benchmarks/ann.py [--passages 1000000] [--variants flat/float32,ivf/int8,hnsw/int8]

The real passages are SciFact's 5,183 abstracts (its 300 test queries, judged: nDCG@10) and the 2,657
passages of the SQuAD 2.0 folder (its questions asked through the whole answer path: answer accuracy,
passage recall@5), with their real vectors (SciFact: the abstract's vector stands in for its
sentences; SQuAD: real sentence vectors). Filler makes up the rest: a real vector with noise added
(cosine about 0.75 to it, so filler crowds the real passages without copying them), two sentences
each (cosine about 0.85 to the passage), and words drawn from the real passages' word frequencies,
so BM25 sees a realistic vocabulary and postings. Embedding a million passages would take days here.

The float32 vectors are written to disk in blocks (``vectors.npy``, ``sentences.npy`` in ``--work``) and the
index is written once by ``store.write_index`` from them, memory-mapped: exact (float32), or the first
variant that fits in ``--memory-gb`` when the exact one does not (at 5M). Each other variant gets the same
passages and BM25 files (hard links) and its own vector index and sentence file. Each variant is then
measured in a fresh process: load time, peak memory, nDCG@10, SQuAD accuracy, and the time of each part
of an answer (dense search, BM25, the rest). An exact variant that does not fit is measured by brute force
over the vectors on disk instead (``ExactLists``). ``--list-recall`` measures IVF's agreement with exact
dense search by nprobe.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
SCIFACT, SQUAD = SHARED / "scifact", SHARED / "squad2"
CACHE = Path("/tmp/assistant-scifact-vectors-onnx-int8.npy")  # made by benchmarks/scale.py


def rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: that survives exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonPeak:
    """The peak of this process's memory that is not a mapped file, sampled every 0.2 s in a thread (pages of a
    memory-mapped file count in VmHWM, but the kernel takes them back under pressure; these it cannot)."""

    def __init__(self) -> None:
        self.peak = 0.0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) / 1024)
            time.sleep(0.2)


def squad_snapshot(work: Path) -> Any:
    """The SQuAD folder imported and indexed once (cached under ``work``)."""
    from assistant.config import Settings
    from assistant.index import store

    root = work / "squad-root"
    if not (root / "index" / "CURRENT").exists():
        articles = sorted(str(p) for p in (SQUAD / "articles").iterdir())
        subprocess.run([str(ROOT / ".venv/bin/assistant"), "--root", str(root), "add", *articles], check=True,
                       stdout=subprocess.DEVNULL)
    return store.load(Settings(root=root)), root


def real_parts(work: Path) -> tuple[list[Any], np.ndarray, np.ndarray, dict[str, Any], Path]:
    """SciFact and SQuAD passages, their vectors and sentence vectors, and the SQuAD manifest entries."""
    from assistant.evals.beir import load_beir
    from assistant.index.chunk import sentence_spans
    from assistant.types import Passage

    corpus, _, _ = load_beir(SCIFACT, "test")
    base = np.load(CACHE)
    passages, sentence_rows = [], []
    for i, (did, text) in enumerate(corpus.items()):
        spans = tuple(sentence_spans(text, 0, len(text)) or [(0, len(text))])
        passages.append(Passage(f"sf-{did}#0", f"sf-{did}", text, 0, len(text), spans))
        sentence_rows += [i] * len(spans)
    squad, squad_root = squad_snapshot(work)
    vectors = np.concatenate([base, squad.dense_matrix()])
    sentences = np.concatenate([base[sentence_rows], squad.sentence_vectors.all()])
    return passages + list(squad.passages), vectors, sentences, dict(squad.manifest.sources), squad_root


class FillerPassages(Sequence[Any]):
    """Filler passages made on demand from their drawn words: a million ``Passage`` objects would take 1 GB."""

    def __init__(self, words: np.ndarray, draw: np.ndarray) -> None:
        self.words, self.draw = words, draw

    def __len__(self) -> int:
        return len(self.draw)

    def __getitem__(self, i: Any) -> Any:
        from assistant.types import Passage

        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        first, second = " ".join(self.words[self.draw[i, :30]]), " ".join(self.words[self.draw[i, 30:]])
        text = f"{first.capitalize()}. {second.capitalize()}."
        return Passage(f"f{i // 5}#{i % 5}", f"f{i // 5}", text, 0, len(text),
                       ((0, len(first) + 1), (len(first) + 2, len(text))))


class Joined(Sequence[Any]):
    """Two sequences one after the other, without a joined copy."""

    def __init__(self, head: Sequence[Any], tail: Sequence[Any]) -> None:
        self.head, self.tail = head, tail

    def __len__(self) -> int:
        return len(self.head) + len(self.tail)

    def __getitem__(self, i: Any) -> Any:
        return self.head[i] if i < len(self.head) else self.tail[i - len(self.head)]

    def __iter__(self) -> Iterator[Any]:
        yield from self.head
        yield from self.tail


def filler(n: int, pool: np.ndarray, texts: list[str], rng: np.random.Generator, vectors: Path, sentences: Path,
           real_sentences: np.ndarray) -> FillerPassages:
    """Filler passages; their vectors and sentence vectors are written after ``pool`` and ``real_sentences`` as
    the float32 ``.npy`` files ``vectors`` and ``sentences``, 100,000 passages at a time (the random
    draws come in the same order as when everything was made at once, so the filler is the same)."""
    words, counts = np.unique(re.findall(r"[A-Za-z]+|\d+", " ".join(texts)), return_counts=True)
    draw = np.concatenate([rng.choice(len(words), size=(min(500_000, n - a), 60), p=counts / counts.sum())
                           .astype(np.uint32) for a in range(0, n, 500_000)])
    dim = pool.shape[1]
    with open(vectors, "wb") as vout, open(sentences, "wb") as sout:
        for out, rows, real in ((vout, len(pool) + n, pool), (sout, len(real_sentences) + 2 * n, real_sentences)):
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})
            np.ascontiguousarray(real, dtype=np.float32).tofile(out)
        for a in range(0, n, 100_000):
            b = min(n, a + 100_000)
            v = pool[rng.integers(0, len(pool), b - a)] + rng.normal(0, 0.045, (b - a, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            v.astype(np.float32).tofile(vout)
            s = np.repeat(v, 2, axis=0) + rng.normal(0, 0.031, (2 * (b - a), dim)).astype(np.float32)
            (s / np.linalg.norm(s, axis=1, keepdims=True)).astype(np.float32).tofile(sout)
    return FillerPassages(words, draw)


def build(work: Path, total: int, base: str = "flat/float32") -> dict[str, Any]:
    """Write the ``base`` index (``dense/vectors``) of ``total`` passages; keep the float32 vectors, on disk, for
    the other variants. The vectors are handed to ``store.write_index`` memory-mapped: it reads them by blocks."""
    from assistant.config import Settings
    from assistant.index import store

    anon = AnonPeak()
    real, vectors, sentences, squad_sources, squad_root = real_parts(work)
    rng = np.random.default_rng(0)
    fill = filler(total - len(real), vectors, [p.text for p in real[:8000]], rng, work / "vectors.npy",
                  work / "sentences.npy", sentences)
    del vectors, sentences
    passages = Joined(real, fill)
    dense, kind = base.split("/")
    root = work / f"{dense}-{kind}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "sources").mkdir(parents=True)
    for f in (squad_root / "sources").glob("*.md"):  # SQuAD quotes are checked against their files
        shutil.copy(f, root / "sources" / f.name)
    shutil.copytree(squad_root / "index" / "model", root / "index" / "model")  # the question encoder
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.source_id] = counts.get(p.source_id, 0) + 1
    sources = {sid: replace(squad_sources[sid], passages=c) if sid in squad_sources else
               store.SourceEntry(sid, "", c, sid) for sid, c in counts.items()}
    del counts
    settings = Settings(root=root, dense_index=dense, vectors=kind)
    manifest = store.Manifest(store.ModelInfo(settings.model, 384, settings.backend), store.ChunkerInfo(0, 0), "",
                              sources)
    t0 = time.perf_counter()
    store.write_index(settings, manifest, passages, np.load(work / "vectors.npy", mmap_mode="r"),
                      np.load(work / "sentences.npy", mmap_mode="r"))
    return {"passages": len(passages), "sentences": int(np.load(work / "sentences.npy", mmap_mode="r").shape[0]),
            "base": base, "write_s": time.perf_counter() - t0, "build_peak_rss_mb": rss_mb(),
            "build_peak_anon_mb": anon.peak}


def derive(work: Path, dense: str, vectors: str, m: int, nprobe: int = 64, base: str = "flat/float32") -> dict[str, Any]:
    """The ``base`` index's passages and BM25 with another vector index and sentence file."""
    from assistant.config import Settings
    from assistant.index import store
    from assistant.index.search import vectors as vec

    built = work / base.replace("/", "-")
    source = store.current_path(Settings(root=built))
    assert source is not None
    root = work / f"{dense}-{vectors}"
    shutil.rmtree(root, ignore_errors=True)
    gen = root / "index" / source.name
    shutil.copytree(source, gen, copy_function=os.link)
    shutil.copytree(built / "sources", root / "sources")
    shutil.copytree(built / "index" / "model", root / "index" / "model", copy_function=os.link)
    for name in (store.VECTORS, store.SENTENCES, vec.SENTENCE_SCALES):
        (gen / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    index = vec.build_index(np.load(work / "vectors.npy", mmap_mode="r"), dense, vectors, m)
    build_s = time.perf_counter() - t0
    import faiss

    recall = (_recall(index, np.load(work / "queries.npy"), np.load(work / "truth.npy"), ef=128 if dense == "hnsw" else 0,
                      nprobe=nprobe if dense == "ivf" else 0) if dense != "flat" else {})
    lists = int(index.nlist) if dense == "ivf" else 0
    faiss.write_index(index, str(gen / store.VECTORS))
    del index
    vec.save_sentences(gen, store.SENTENCES, np.load(work / "sentences.npy", mmap_mode="r"), vectors, 384)
    manifest = store.read_manifest(gen)
    files = {f.relative_to(gen).as_posix(): store.FileEntry(f.stat().st_size, store.file_sha256(f))
             for f in sorted(gen.rglob("*")) if f.is_file() and f.name != store.MANIFEST}
    search = store.SearchInfo(dense, vectors, m if dense == "hnsw" else 0, lists)
    (gen / store.MANIFEST).unlink()  # a hard link to the exact index's manifest: writing through it would change that one
    (gen / store.MANIFEST).write_text(replace(manifest, search=search, files=files).to_json(), encoding="utf-8")
    (root / "index" / store.CURRENT).write_text(gen.name + "\n")
    return {"vector_build_s": build_s, "faiss_recall": recall, "ivf_lists": lists}


def measure(root: Path, squad_questions: int, ef: int, depth: int = 0, nprobe: int = 64,
            exact: Path | None = None) -> dict[str, Any]:
    """Load the index in ``root`` and ask SciFact's and SQuAD's questions; run in a fresh process.

    ``exact``: the benchmark's work folder, whose float32 vectors replace the index's dense search by brute
    force (``ExactLists``), for a size at which the exact index does not fit in memory.
    """
    import ir_measures
    from ir_measures import nDCG

    from assistant.answer import quotes
    from assistant.config import Settings
    from assistant.evals.beir import load_beir
    from assistant.evals.qa import judge, load_questions, metrics
    from assistant.session import Assistant

    settings = Settings(root=root, ef_search=ef, fusion_depth=depth, nprobe=nprobe)
    assistant = Assistant(settings)
    assistant.encoders.query("onnx-int8").encode(["warm up"])
    anon = AnonPeak()
    before = rss_mb()
    t0 = time.perf_counter()
    retriever = assistant.retriever()
    load_s, loaded_mb = time.perf_counter() - t0, rss_mb() - before
    _, queries, qrels = load_beir(SCIFACT, "test")
    questions = load_questions(SQUAD / "questions.jsonl")[:squad_questions]
    if exact is not None:
        asked_texts = list(queries.values()) + [q.question for q in questions]
        retriever.backend = ExactLists(retriever.backend, exact, np.stack([retriever.encode(t) for t in asked_texts]))
    run = []
    for qid, text in queries.items():  # filler and SQuAD passages keep their places as unjudged documents
        run += [ir_measures.ScoredDoc(qid, h.passage.source_id.removeprefix("sf-"), h.score)
                for h in retriever.search(text, k=10)]
    qrel_rows = [ir_measures.Qrel(q, d, s) for q, docs in qrels.items() for d, s in docs.items()]
    ndcg = float(ir_measures.calc_aggregate([nDCG @ 10], qrel_rows, run)[nDCG @ 10])
    judged, asked, parts = [], [], {"encode": [], "dense": [], "bm25": []}
    for q in questions:
        t0 = time.perf_counter()
        answer = quotes.ask(q.question, settings, retriever, assistant.models)
        asked.append(time.perf_counter() - t0)
        judged.append(judge(q, answer))
        _time_parts(retriever, q.question, parts)
    squad = metrics(judged)
    extra = {"exact_fallbacks": retriever.backend.fallbacks} if exact is not None else {}
    return {"load_s": load_s, "loaded_mb": loaded_mb, "serve_peak_rss_mb": rss_mb(),
            "serve_peak_anon_mb": anon.peak, **extra, "scifact_ndcg@10": ndcg,
            "squad_answer_accuracy": squad["answer_accuracy"], "squad_passage_recall@5": squad["passage_recall@5"],
            "squad_false_abstention": squad["false_abstention"], "questions": len(questions),
            "ask_p50_ms": 1000 * statistics.median(asked), "ask_p95_ms": 1000 * sorted(asked)[int(0.95 * len(asked))],
            **{f"{k}_p50_ms": 1000 * statistics.median(v) for k, v in parts.items()}}


class ExactLists:
    """A backend whose dense search is exact: brute force over the work folder's float32 vectors, read from disk
    in blocks (all known questions in one pass, at load), with exact cosines and float32 sentence vectors.
    BM25 and the rest are the wrapped backend's; the list depth is too, so only the dense search differs."""

    def __init__(self, backend: Any, work: Path, asked: np.ndarray, depth: int = 1000) -> None:
        from assistant.index.search import vectors as vec

        self.inner, self.fallbacks = backend, 0
        self.vectors = np.load(work / "vectors.npy", mmap_mode="r")
        backend.sentence_vectors = vec.Sentences(work, "sentences.npy", "float32")
        rows, scores = self._top(asked.astype(np.float32), max(depth, backend.depth))
        self.lists = {v.tobytes(): (rows[i], scores[i]) for i, v in enumerate(asked)}

    def _top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows and cosines of each question, best first."""
        best_rows, best = np.zeros((len(q), 0), dtype=np.int64), np.zeros((len(q), 0), dtype=np.float32)
        for a in range(0, len(self.vectors), 200_000):
            part = q @ np.asarray(self.vectors[a : a + 200_000], dtype=np.float32).T
            top = np.argpartition(-part, min(k, part.shape[1] - 1), axis=1)[:, :k]
            rows = np.concatenate([best_rows, top + a], axis=1)
            cos = np.concatenate([best, np.take_along_axis(part, top, axis=1)], axis=1)
            keep = np.argsort(-cos, axis=1, kind="stable")[:, :k]
            best_rows, best = np.take_along_axis(rows, keep, axis=1), np.take_along_axis(cos, keep, axis=1)
        return best_rows, best

    def dense(self, vector: np.ndarray, k: int, allowed: Any = None) -> Any:
        from assistant.index.search import Candidates

        found = self.lists.get(vector.tobytes())
        if found is None or allowed is not None or k > len(found[0]):
            self.fallbacks += 1
            rows, scores = self._top(vector[None, :].astype(np.float32), k if allowed is None else len(self.vectors))
            found = rows[0], scores[0]
            if allowed is not None:
                keep = allowed.mask[found[0]]
                found = found[0][keep], found[1][keep]
        return Candidates(found[0][:k], found[1][:k])

    def cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows)
        out = np.empty(len(rows), dtype=np.float32)
        out[order] = np.asarray(self.vectors[rows[order]], dtype=np.float32) @ vector
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def list_recall(root: Path, work: Path, probes: list[int], squad_questions: int = 400) -> dict[str, Any]:
    """How much of the exact dense top 10 and top 1,000 the IVF index in ``root`` finds at each nprobe, for
    SciFact's and SQuAD's questions (no relevance judgement used: agreement with exact search only)."""
    from assistant.config import Settings
    from assistant.evals.beir import load_beir
    from assistant.evals.qa import load_questions
    from assistant.session import Assistant

    retriever = Assistant(Settings(root=root)).retriever()
    _, queries, _ = load_beir(SCIFACT, "test")
    texts = list(queries.values()) + [q.question for q in load_questions(SQUAD / "questions.jsonl")[:squad_questions]]
    asked = np.stack([retriever.encode(t) for t in texts])
    exact = ExactLists(retriever.backend, work, asked)
    out: dict[str, Any] = {"questions": len(texts)}
    for nprobe in probes:
        retriever.backend.nprobe = nprobe
        r10, r1000, times = [], [], []
        for v in asked:
            t0 = time.perf_counter()
            found = retriever.backend.dense(v, 1000)
            times.append(time.perf_counter() - t0)
            truth = exact.lists[v.tobytes()][0]
            r10.append(len(set(found.rows[:10].tolist()) & set(truth[:10].tolist())) / 10)
            r1000.append(len(set(found.rows.tolist()) & set(truth.tolist())) / 1000)
        out[f"nprobe{nprobe}"] = {"recall@10": float(np.mean(r10)), "recall@1000": float(np.mean(r1000)),
                                  "dense_p50_ms": 1000 * statistics.median(times)}
    return out


def _time_parts(retriever: Any, question: str, parts: dict[str, list[float]]) -> None:
    t0 = time.perf_counter()
    vector = retriever.encode(question)
    t1 = time.perf_counter()
    retriever.backend.dense(vector, retriever.settings.fusion_depth or retriever.backend.depth)
    t2 = time.perf_counter()
    retriever.backend.bm25(retriever.lexical.terms(question), retriever.settings.fusion_depth or retriever.backend.depth)
    t3 = time.perf_counter()
    for key, a, b in (("encode", t0, t1), ("dense", t1, t2), ("bm25", t2, t3)):
        parts[key].append(b - a)


def faiss_choice(work: Path, queries: int = 300, probe: bool = True) -> dict[str, Any]:
    """The exact top 10 of noisy copies of real vectors (for the variants' FAISS recall@10) and, if ``probe``,
    an IVF index on the same vectors (FAISS alone): recall@10 against exact, latency, build time."""
    import faiss

    vectors = np.load(work / "vectors.npy", mmap_mode="r")
    rng = np.random.default_rng(1)
    q = np.ascontiguousarray(vectors[rng.integers(0, 7840, queries)] + rng.normal(0, 0.03, (queries, 384)), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    best_ids, best_scores = np.zeros((queries, 0), dtype=np.int64), np.zeros((queries, 0), dtype=np.float32)
    for a in range(0, len(vectors), 200_000):
        part = q @ np.asarray(vectors[a : a + 200_000]).T
        top = np.argpartition(-part, 10, axis=1)[:, :10]
        best_ids = np.concatenate([best_ids, top + a], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(part, top, axis=1)], axis=1)
    truth = np.take_along_axis(best_ids, np.argsort(-best_scores, axis=1)[:, :10], axis=1)
    np.save(work / "queries.npy", q)
    np.save(work / "truth.npy", truth)
    out: dict[str, Any] = {}
    if not probe:
        return out
    nlist = int(4 * np.sqrt(len(vectors)))
    t0 = time.perf_counter()
    ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(384), 384, nlist, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    ivf.train(np.ascontiguousarray(vectors[:: max(1, len(vectors) // 100_000)], dtype=np.float32))
    for a in range(0, len(vectors), 200_000):
        ivf.add(np.ascontiguousarray(vectors[a : a + 200_000], dtype=np.float32))
    out["ivf_sq8_build_s"] = time.perf_counter() - t0
    for nprobe in (16, 32, 64):
        ivf.nprobe = nprobe
        out[f"ivf_sq8_nprobe{nprobe}"] = _recall(ivf, q, truth, nprobe=nprobe)
    del ivf
    return out


def _recall(index: Any, q: np.ndarray, truth: np.ndarray, ef: int = 0, nprobe: int = 0) -> dict[str, float]:
    if ef:
        index.hnsw.efSearch = ef
    if nprobe:
        index.nprobe = nprobe
    times, hits = [], []
    for i in range(len(q)):
        t0 = time.perf_counter()
        _, found = index.search(q[i : i + 1], 10)
        times.append(time.perf_counter() - t0)
        hits.append(len(set(found[0]) & set(truth[i])) / 10)
    return {"recall@10": float(np.mean(hits)), "search_p50_ms": 1000 * statistics.median(times)}


def serve_gb(variant: str, passages: int) -> float:
    """Memory to serve ``variant`` (``dense/vectors``), from the per-passage figures measured at 1M (docs/scaling.md):
    the vectors (and graph), passages as objects and maps (~1,300 B), exact search's full sentence scan, 0.5 GB more."""
    dense, vectors = variant.split("/")
    width = {"float32": 4, "float16": 2, "int8": 1}[vectors]
    per = 384 * width + (272 if dense == "hnsw" else 0) + 1300 + (2.04 * 384 * width if dense == "flat" else 0)
    return (per * passages + 0.5e9) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--variants", default="flat/float32,ivf/int8,hnsw/int8")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--nprobe", type=int, default=64)
    parser.add_argument("--squad-questions", type=int, default=400)
    parser.add_argument("--fusion-depth", type=int, default=0, help="0: the backend's (every passage when exact)")
    parser.add_argument("--memory-gb", type=float, default=12.0,
                        help="variants that would need more to serve are skipped (exact search: brute force by blocks)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-ann"))
    parser.add_argument("--skip-build", action="store_true", help="reuse the indexes already in --work")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exact", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--list-recall", metavar="NPROBES", help="only measure the built ivf/int8 index's recall of "
                        "the exact dense top 10 and top 1,000 at each of these nprobe (e.g. 16,32,64,128)")
    args = parser.parse_args()
    if args.list_recall:
        found = list_recall(args.work / "ivf-int8", args.work, [int(n) for n in args.list_recall.split(",")],
                            args.squad_questions)
        out = ROOT / "benchmarks" / "results" / f"ann-{args.passages}-ivf-lists.json"
        out.write_text(json.dumps(found, indent=2) + "\n")
        print(json.dumps(found, indent=2))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.squad_questions, args.ef_search, args.fusion_depth, args.nprobe,
                                 args.exact)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    out = ROOT / "benchmarks" / "results" / f"ann-{args.passages}.json"
    # Variants measured in earlier runs on the same index are kept.
    report: dict[str, Any] = json.loads(out.read_text()) if args.skip_build and out.exists() else {}
    report.update({"passages": args.passages, "hnsw_m": args.hnsw_m, "ef_search": args.ef_search, "nprobe": args.nprobe})
    variants = args.variants.split(",")
    fitting = [v for v in variants if serve_gb(v, args.passages) <= args.memory_gb]
    if not fitting:
        raise SystemExit(f"no variant of {args.variants} fits in {args.memory_gb} GB at {args.passages} passages")
    args.base = "flat/float32" if "flat/float32" in fitting else fitting[0]
    if not args.skip_build:
        report["build"] = _in_child("build", args)
        report["faiss_ivf"] = faiss_choice(args.work, probe=not any(v.startswith("ivf/") for v in variants))
    for variant in variants:
        _variant(variant, args, report, fitting)
    if out.exists() and args.skip_build:  # another run may have added variants meanwhile
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _variant(variant: str, args: argparse.Namespace, report: dict[str, Any], fitting: list[str]) -> None:
    """Derive (unless built) and measure one variant; exact search that does not fit is measured by brute force."""
    dense, vectors = variant.split("/")
    if variant not in fitting:
        row: dict[str, Any] = {"skipped": f"needs about {serve_gb(variant, args.passages):.1f} GB to serve, "
                                          f"over --memory-gb {args.memory_gb:g}"}
        if variant == "flat/float32":  # the reference: dense search by brute force over the approximate index
            row = {"measured": f"exact dense search by brute force over the float32 vectors on disk, "
                               f"with the {args.base} index's passages and BM25, depth {args.fusion_depth or 1000}",
                   **_measure_child(args.work / args.base.replace("/", "-"), args, exact=args.work)}
        report[f"{variant}/exact-blocked/depth{args.fusion_depth}"] = row
        print(variant, json.dumps(row), file=sys.stderr, flush=True)
        return
    root = args.work / f"{dense}-{vectors}"
    built = variant == args.base and not args.skip_build or (args.skip_build and (root / "index" / "CURRENT").exists())
    row = {} if built else derive(args.work, dense, vectors, args.hnsw_m, args.nprobe, args.base)
    row["index_files_mb"] = sum(f.stat().st_size for f in root.rglob("gen-*/*") if f.is_file()) / 2**20
    row["vector_files_mb"] = sum(f.stat().st_size for f in root.glob("index/gen-*/*") if f.name in
                                 ("vectors.faiss", "sentences.npy", "sentence_scales.npy")) / 2**20
    row.update(_measure_child(root, args))
    searched = f"nprobe{args.nprobe}" if dense == "ivf" else f"ef{args.ef_search}"
    report[f"{variant}/{searched}/depth{args.fusion_depth}"] = row
    print(variant, json.dumps(row), file=sys.stderr, flush=True)


def _in_child(what: str, args: argparse.Namespace) -> dict[str, Any]:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import ann; from pathlib import Path; "
            f"print(json.dumps(ann.{what}(Path({str(args.work)!r}), {args.passages}, {args.base!r})))")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure_child(root: Path, args: argparse.Namespace, exact: Path | None = None) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--measure", str(root), "--squad-questions",
                           str(args.squad_questions), "--ef-search", str(args.ef_search),
                           "--fusion-depth", str(args.fusion_depth), "--nprobe", str(args.nprobe),
                           *(["--exact", str(exact)] if exact is not None else [])],
                          check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()

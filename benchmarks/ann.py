"""Exact vs approximate search at a million passages: what users see, how fast, how much memory.

Run:  .venv/bin/python benchmarks/ann.py [--passages 1000000] [--variants flat/float32,hnsw/float32,hnsw/int8]

The real passages are SciFact's 5,183 abstracts (its 300 test queries, judged: nDCG@10) and the 2,657
passages of the SQuAD 2.0 folder (its questions asked through the whole answer path: answer accuracy,
passage recall@5), with their real vectors (SciFact: the abstract's vector stands in for its
sentences; SQuAD: real sentence vectors). Filler makes up the rest: a real vector with noise added
(cosine about 0.75 to it, so filler crowds the real passages without copying them), two sentences
each (cosine about 0.85 to the passage), and words drawn from the real passages' word frequencies,
so BM25 sees a realistic vocabulary and postings. Embedding a million passages would take days here.

The index is written once by ``store.write_index`` (exact, float32); each other variant gets the same
passages and BM25 files (hard links) and its own vector index and sentence file. Each variant is then
measured in a fresh process: load time, peak RSS, nDCG@10, SQuAD accuracy, and the time of each part
of an answer (dense search, BM25, the rest). FAISS alone also compares HNSW with IVF on the same vectors.
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
import time
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


def filler(n: int, pool: np.ndarray, texts: list[str], rng: np.random.Generator) -> tuple[list[Any], np.ndarray, np.ndarray]:
    from assistant.types import Passage

    words, counts = np.unique(re.findall(r"[A-Za-z]+|\d+", " ".join(texts)), return_counts=True)
    draw = rng.choice(len(words), size=(n, 60), p=counts / counts.sum())
    passages = []
    for i in range(n):
        first, second = " ".join(words[draw[i, :30]]), " ".join(words[draw[i, 30:]])
        text = f"{first.capitalize()}. {second.capitalize()}."
        passages.append(Passage(f"f{i // 5}#{i % 5}", f"f{i // 5}", text, 0, len(text),
                                ((0, len(first) + 1), (len(first) + 2, len(text)))))
    vectors = np.empty((n, pool.shape[1]), dtype=np.float32)
    sentences = np.empty((2 * n, pool.shape[1]), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        v = pool[rng.integers(0, len(pool), b - a)] + rng.normal(0, 0.045, (b - a, pool.shape[1])).astype(np.float32)
        vectors[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
        s = np.repeat(vectors[a:b], 2, axis=0) + rng.normal(0, 0.031, (2 * (b - a), pool.shape[1])).astype(np.float32)
        sentences[2 * a : 2 * b] = s / np.linalg.norm(s, axis=1, keepdims=True)
    return passages, vectors, sentences


def build(work: Path, total: int) -> dict[str, Any]:
    """Write the exact index of ``total`` passages; keep its float32 vectors for the other variants."""
    from assistant.config import Settings
    from assistant.index import store

    passages, vectors, sentences, squad_sources, squad_root = real_parts(work)
    rng = np.random.default_rng(0)
    fill, fill_vectors, fill_sentences = filler(total - len(passages), vectors, [p.text for p in passages[:8000]], rng)
    passages += fill
    vectors = np.concatenate([vectors, fill_vectors])
    del fill_vectors
    sentences = np.concatenate([sentences, fill_sentences])
    del fill_sentences
    np.save(work / "vectors.npy", vectors)
    np.save(work / "sentences.npy", sentences)
    root = work / "flat-float32"
    shutil.rmtree(root, ignore_errors=True)
    (root / "sources").mkdir(parents=True)
    for f in (squad_root / "sources").glob("*.md"):  # SQuAD quotes are checked against their files
        shutil.copy(f, root / "sources" / f.name)
    shutil.copytree(squad_root / "index" / "model", root / "index" / "model")  # the question encoder
    sources = {p.source_id: store.SourceEntry(p.source_id, "", 0, p.source_id) for p in passages}
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.source_id] = counts.get(p.source_id, 0) + 1
    sources = {sid: replace(squad_sources.get(sid, e), passages=counts[sid]) for sid, e in sources.items()}
    settings = Settings(root=root)
    manifest = store.Manifest(store.ModelInfo(settings.model, 384, settings.backend), store.ChunkerInfo(0, 0), "",
                              sources)
    t0 = time.perf_counter()
    store.write_index(settings, manifest, passages, vectors, sentences)
    return {"passages": len(passages), "sentences": len(sentences), "write_s": time.perf_counter() - t0,
            "build_peak_rss_mb": rss_mb()}


def derive(work: Path, dense: str, vectors: str, m: int) -> dict[str, Any]:
    """The exact index's passages and BM25 with another vector index and sentence file."""
    from assistant.config import Settings
    from assistant.index import store
    from assistant.index.search import vectors as vec

    source = store.current_path(Settings(root=work / "flat-float32"))
    assert source is not None
    root = work / f"{dense}-{vectors}"
    shutil.rmtree(root, ignore_errors=True)
    gen = root / "index" / source.name
    shutil.copytree(source, gen, copy_function=os.link)
    shutil.copytree(work / "flat-float32" / "sources", root / "sources")
    shutil.copytree(work / "flat-float32" / "index" / "model", root / "index" / "model", copy_function=os.link)
    for name in (store.VECTORS, store.SENTENCES, vec.SENTENCE_SCALES):
        (gen / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    index = vec.build_index(np.load(work / "vectors.npy", mmap_mode="r"), dense, vectors, m)
    build_s = time.perf_counter() - t0
    import faiss

    recall = _recall(index, np.load(work / "queries.npy"), np.load(work / "truth.npy"), ef=128) if dense == "hnsw" else {}
    faiss.write_index(index, str(gen / store.VECTORS))
    del index
    vec.save_sentences(gen, store.SENTENCES, np.load(work / "sentences.npy", mmap_mode="r"), vectors, 384)
    manifest = store.read_manifest(gen)
    files = {f.relative_to(gen).as_posix(): store.FileEntry(f.stat().st_size, store.file_sha256(f))
             for f in sorted(gen.rglob("*")) if f.is_file() and f.name != store.MANIFEST}
    search = store.SearchInfo(dense, vectors, m if dense == "hnsw" else 0)
    (gen / store.MANIFEST).unlink()  # a hard link to the exact index's manifest: writing through it would change that one
    (gen / store.MANIFEST).write_text(replace(manifest, search=search, files=files).to_json(), encoding="utf-8")
    (root / "index" / store.CURRENT).write_text(gen.name + "\n")
    return {"vector_build_s": build_s, "faiss_recall": recall}


def measure(root: Path, squad_questions: int, ef: int, depth: int = 0) -> dict[str, Any]:
    """Load the index in ``root`` and ask SciFact's and SQuAD's questions; run in a fresh process."""
    import ir_measures
    from ir_measures import nDCG

    from assistant.answer import quotes
    from assistant.config import Settings
    from assistant.evals.beir import load_beir
    from assistant.evals.qa import judge, load_questions, metrics
    from assistant.session import Assistant

    settings = Settings(root=root, ef_search=ef, fusion_depth=depth)
    assistant = Assistant(settings)
    assistant.encoders.query("onnx-int8").encode(["warm up"])
    before = rss_mb()
    t0 = time.perf_counter()
    retriever = assistant.retriever()
    load_s, loaded_mb = time.perf_counter() - t0, rss_mb() - before
    _, queries, qrels = load_beir(SCIFACT, "test")
    run = []
    for qid, text in queries.items():  # filler and SQuAD passages keep their places as unjudged documents
        run += [ir_measures.ScoredDoc(qid, h.passage.source_id.removeprefix("sf-"), h.score)
                for h in retriever.search(text, k=10)]
    qrel_rows = [ir_measures.Qrel(q, d, s) for q, docs in qrels.items() for d, s in docs.items()]
    ndcg = float(ir_measures.calc_aggregate([nDCG @ 10], qrel_rows, run)[nDCG @ 10])
    questions = load_questions(SQUAD / "questions.jsonl")[:squad_questions]
    judged, asked, parts = [], [], {"encode": [], "dense": [], "bm25": []}
    for q in questions:
        t0 = time.perf_counter()
        answer = quotes.ask(q.question, settings, retriever, assistant.models)
        asked.append(time.perf_counter() - t0)
        judged.append(judge(q, answer))
        _time_parts(retriever, q.question, parts)
    squad = metrics(judged)
    return {"load_s": load_s, "loaded_mb": loaded_mb, "serve_peak_rss_mb": rss_mb(), "scifact_ndcg@10": ndcg,
            "squad_answer_accuracy": squad["answer_accuracy"], "squad_passage_recall@5": squad["passage_recall@5"],
            "squad_false_abstention": squad["false_abstention"], "questions": len(questions),
            "ask_p50_ms": 1000 * statistics.median(asked), "ask_p95_ms": 1000 * sorted(asked)[int(0.95 * len(asked))],
            **{f"{k}_p50_ms": 1000 * statistics.median(v) for k, v in parts.items()}}


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


def faiss_choice(work: Path, queries: int = 300) -> dict[str, Any]:
    """HNSW against IVF on the same vectors (FAISS alone): recall@10 against exact, latency, build time."""
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
        out[f"ivf_sq8_nprobe{nprobe}"] = _recall(ivf, q, truth)
    del ivf
    return out


def _recall(index: Any, q: np.ndarray, truth: np.ndarray, ef: int = 0) -> dict[str, float]:
    if ef:
        index.hnsw.efSearch = ef
    times, hits = [], []
    for i in range(len(q)):
        t0 = time.perf_counter()
        _, found = index.search(q[i : i + 1], 10)
        times.append(time.perf_counter() - t0)
        hits.append(len(set(found[0]) & set(truth[i])) / 10)
    return {"recall@10": float(np.mean(hits)), "search_p50_ms": 1000 * statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--variants", default="flat/float32,hnsw/float32,hnsw/int8")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--squad-questions", type=int, default=400)
    parser.add_argument("--fusion-depth", type=int, default=0, help="0: the backend's (every passage when exact)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-ann"))
    parser.add_argument("--skip-build", action="store_true", help="reuse the indexes already in --work")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.squad_questions, args.ef_search, args.fusion_depth)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    out = ROOT / "benchmarks" / "results" / f"ann-{args.passages}.json"
    # Variants measured in earlier runs on the same index are kept.
    report: dict[str, Any] = json.loads(out.read_text()) if args.skip_build and out.exists() else {}
    report.update({"passages": args.passages, "hnsw_m": args.hnsw_m, "ef_search": args.ef_search})
    if not args.skip_build:
        report["build"] = _in_child("build", args)
        report["faiss_ivf"] = faiss_choice(args.work)
    for variant in args.variants.split(","):
        dense, vectors = variant.split("/")
        root = args.work / f"{dense}-{vectors}"
        built = variant == "flat/float32" or (args.skip_build and (root / "index" / "CURRENT").exists())
        row = {} if built else derive(args.work, dense, vectors, args.hnsw_m)
        row["index_files_mb"] = sum(f.stat().st_size for f in root.rglob("gen-*/*") if f.is_file()) / 2**20
        row["vector_files_mb"] = sum(f.stat().st_size for f in root.glob("index/gen-*/*") if f.name in
                                     ("vectors.faiss", "sentences.npy", "sentence_scales.npy")) / 2**20
        row.update(_measure_child(root, args))
        report[f"{variant}/ef{args.ef_search}/depth{args.fusion_depth}"] = row
        print(variant, json.dumps(row), file=sys.stderr, flush=True)
    if out.exists() and args.skip_build:  # another run may have added variants meanwhile
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _in_child(what: str, args: argparse.Namespace) -> dict[str, Any]:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import ann; from pathlib import Path; "
            f"print(json.dumps(ann.{what}(Path({str(args.work)!r}), {args.passages})))")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure_child(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--measure", str(root), "--squad-questions",
                           str(args.squad_questions), "--ef-search", str(args.ef_search),
                           "--fusion-depth", str(args.fusion_depth)],
                          check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()

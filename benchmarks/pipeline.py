"""Index build, incremental update and warm query latency, each against its floor, in one run.

Run:  .venv/bin/python benchmarks/pipeline.py [--articles 5183] [--queries 100]

The archive is BEIR SciFact (../shared/benchmarks/scifact) with each abstract written as one article
(title + text) into a temporary sources/. Measured, all in one process with the model loaded first:

1. full build (`indexer.update(rebuild=True)`: read, clean, chunk, embed, BM25, FAISS, write) in
   passages/s, against the floor: `SentenceTransformer.encode` alone (torch, fp32) on the same
   passage texts with the same batch size; and, like for like, against the index's own passage
   encoder (the default `onnx-int8` backend) alone on those texts. The first build also exports
   the model to ONNX once; a second full rebuild, export in place, is timed too;
2. adding one article to that archive (`indexer.update`), against the full build;
3. warm `answer.ask` latency (retrieve + group + compose) for SciFact test queries, against the floor:
   one query encode (with the encoder `ask` uses: the ONNX export) plus one exact FAISS search.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
NEW_ARTICLE = """---
title: Kinship carers in the Brindle pilot
---
The Brindle pilot supported 412 kinship carers during 2023. Carers said regular respite mattered most.
Council officers said the pilot would be extended to two more districts if funding allowed.
"""


def write_archive(folder: Path, limit: int) -> int:
    from assistant.sources.frontmatter import render

    folder.mkdir(parents=True)
    n = 0
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            title = " ".join((row.get("title") or f"Abstract {row['_id']}").split())
            (folder / f"doc-{row['_id']}.md").write_text(render({"title": title}, row["text"] + "\n"),
                                                         encoding="utf-8")
            n += 1
            if n == limit:
                break
    return n


def latency(assistant: Any, questions: list[str]) -> dict[str, float]:
    """Warm ``ask`` against one encode + one exact FAISS search, question by question, same encoder."""
    import faiss
    import numpy as np

    retriever = assistant.retriever()
    matrix = retriever.snapshot.dense_matrix()
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(matrix)
    for q in questions[:5]:
        assistant.ask(q)
    asked, floor = [], []
    for q in questions:
        t0 = time.perf_counter()
        assistant.ask(q)
        asked.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        flat.search(np.asarray(retriever.encoder.encode([q])), 20)
        floor.append(time.perf_counter() - t0)
    out = {"passages": len(retriever.passages), "queries": len(questions),
           "ask_p50_ms": 1000 * statistics.median(asked), "ask_p95_ms": 1000 * percentile(asked, 0.95),
           "floor_p50_ms": 1000 * statistics.median(floor), "floor_p95_ms": 1000 * percentile(floor, 0.95)}
    out["p50_ratio"] = out["ask_p50_ms"] / out["floor_p50_ms"]
    return out


def seeds_latency() -> dict[str, float]:
    """The same on the five seed articles and the gold questions, in a fresh copy of sources/."""
    import shutil

    from assistant.config import Settings
    from assistant.evals.gold import load_gold
    from assistant.session import Assistant

    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as tmp:
        shutil.copytree(ROOT / "sources", Path(tmp) / "sources")
        assistant = Assistant(Settings(root=Path(tmp)))
        assistant.update()
        return latency(assistant, [q.question for q in load_gold(ROOT / "evals" / "gold.jsonl")])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5183)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    from assistant.config import Settings
    from assistant.evals.beir import load_beir
    from assistant.index import embed, store
    from assistant.session import Assistant

    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        settings = Settings(root=Path(tmp))
        assistant = Assistant(settings)
        articles = write_archive(settings.sources_dir, args.articles)
        encoder = embed.load_model(settings)  # loaded before timing: both sides use the same model
        assistant.encoders.model()  # as it was before: the model, not the build, is loaded here
        print(f"{articles:,} articles in {tmp}", file=sys.stderr)

        t0 = time.perf_counter()
        built = assistant.update(rebuild=True, progress=True)
        build_s = time.perf_counter() - t0
        texts = [p.text for p in store.load(settings).passages]
        t0 = time.perf_counter()
        encoder.model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
        floor_s = time.perf_counter() - t0
        own = assistant.encoders.passage()
        t0 = time.perf_counter()
        embed.encode_batches(own, texts, settings.batch_size)
        own_floor_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        assistant.update(rebuild=True)
        rebuild_s = time.perf_counter() - t0
        n = built.passages
        report["build"] = {"articles": articles, "passages": n, "backend": settings.backend, "seconds": build_s,
                           "passages_per_s": n / build_s, "floor_seconds": floor_s, "floor_passages_per_s": n / floor_s,
                           "ratio": floor_s / build_s, "own_floor_seconds": own_floor_s,
                           "own_floor_passages_per_s": n / own_floor_s, "rebuild_seconds": rebuild_s,
                           "rebuild_passages_per_s": n / rebuild_s, "rebuild_ratio": floor_s / rebuild_s,
                           "rebuild_ratio_own": own_floor_s / rebuild_s}

        (settings.sources_dir / "brindle-pilot.md").write_text(NEW_ARTICLE, encoding="utf-8")
        t0 = time.perf_counter()
        added = assistant.update()
        add_s = time.perf_counter() - t0
        report["incremental"] = {"embedded": added.embedded, "seconds": add_s, "full_build_seconds": build_s,
                                 "share_of_full_build": add_s / build_s}

        _, queries, _ = load_beir(SCIFACT, "test")
        report["query"] = latency(assistant, list(queries.values())[: args.queries])
    report["seeds_query"] = seeds_latency()

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"pipeline-{articles}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    b, i, q = report["build"], report["incremental"], report["query"]
    print(f"{'measure':<34}{'ours':>12}{'floor':>12}{'ratio':>8}  target")
    print(f"{'build, passages/s':<34}{b['passages_per_s']:>12.1f}{b['floor_passages_per_s']:>12.1f}"
          f"{b['ratio']:>8.2f}  >= 0.90 of the floor (torch encode)")
    print(f"{'rebuild (export made), passages/s':<34}{b['rebuild_passages_per_s']:>12.1f}"
          f"{b['floor_passages_per_s']:>12.1f}{b['rebuild_ratio']:>8.2f}")
    print(f"{'rebuild vs ' + b['backend'] + ' encode alone':<34}{b['rebuild_passages_per_s']:>12.1f}"
          f"{b['own_floor_passages_per_s']:>12.1f}{b['rebuild_ratio_own']:>8.2f}")
    print(f"{'add 1 article, s (vs full build)':<34}{i['seconds']:>12.2f}{i['full_build_seconds']:>12.1f}"
          f"{i['share_of_full_build']:>8.3f}  <= 0.02")
    print(f"{'ask p50 ms (floor: encode+search)':<34}{q['ask_p50_ms']:>12.1f}{q['floor_p50_ms']:>12.1f}"
          f"{q['p50_ratio']:>8.2f}  <= 1.5")
    print(f"{'ask p95 ms':<34}{q['ask_p95_ms']:>12.1f}{q['floor_p95_ms']:>12.1f}")
    sq = report["seeds_query"]
    print(f"{'seeds: ask p50 ms (floor)':<34}{sq['ask_p50_ms']:>12.1f}{sq['floor_p50_ms']:>12.1f}"
          f"{sq['p50_ratio']:>8.2f}  <= 1.5")
    print(f"{b['articles']:,} articles, {b['passages']:,} passages; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

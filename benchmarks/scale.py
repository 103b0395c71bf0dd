"""An index of 100,000+ passages: write time, size on disk, peak memory, query latency; exact vs HNSW search.

Run:  .venv/bin/python benchmarks/scale.py [--copies 20]

Embedding 100,000 passages takes over an hour on 2 cores, so the vectors are made, not embedded:
the 5,183 SciFact abstracts are embedded once by the default backend (cached in /tmp), then each is repeated ``--copies``
times with a little noise added to its vector and renormalised, and its text given a distinct final
word (its sentences are split once, as the indexer records them). Every other part is real: the
index is written by ``store.write`` (FAISS + BM25 + manifest), loaded by ``Retriever`` and queried
through ``answer.ask`` with SciFact's test queries. Measured in the same run: the floor (one query
encode + one exact FAISS search), and an HNSW index's recall@10 against exact search and its latency.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
CACHE = Path(tempfile.gettempdir()) / "assistant-scifact-vectors.npy"


def corpus() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl", encoding="utf-8") if line.strip()]
    return [(str(r["_id"]), f"{r.get('title') or ''}\n{r.get('text') or ''}".strip()) for r in rows]


def vectors(texts: list[str], assistant: Any) -> np.ndarray:
    from assistant.index import embed

    encoder = assistant.encoders.passage()  # also exports the model into the index, for questions
    cache = CACHE.with_name(f"{CACHE.stem}-{assistant.settings.backend}.npy")
    if cache.exists():
        cached = np.load(cache)
        if len(cached) == len(texts):
            return cached
    out = embed.encode_batches(encoder, texts, 32, progress=True)
    np.save(cache, out)
    return out


def p(values: list[float], q: float) -> float:
    return 1000 * sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    import faiss

    from assistant.config import Settings
    from assistant.evals.beir import load_beir
    from assistant.index import store
    from assistant.index.chunk import sentence_spans
    from assistant.session import Assistant
    from assistant.types import Passage

    docs = corpus()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        settings = Settings(root=Path(tmp))
        assistant = Assistant(settings)
        base = vectors([t for _, t in docs], assistant)

        # Sentences as the indexer records them; a copy's final word extends its last sentence.
        spans = [sentence_spans(text, 0, len(text)) or [(0, len(text))] for _, text in docs]
        passages, rows = [], []
        for c in range(args.copies):
            noisy = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
            rows.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
            for (did, text), sent in zip(docs, spans):
                body = f"{text} v{c}"
                sentences = (*sent[:-1], (sent[-1][0], len(body)))
                passages.append(Passage(f"d{did}-{c}#0", f"d{did}-{c}", body, 0, len(body), sentences))
        matrix = np.concatenate(rows).astype(np.float32)
        sources = {p.source_id: store.SourceEntry(path=p.source_id, sha256="", passages=1, title=p.source_id)
                   for p in passages}
        manifest = store.Manifest(model=store.ModelInfo(settings.model, int(matrix.shape[1]), settings.backend),
                                  chunker=store.ChunkerInfo(version=0, max_chars=0), built="", sources=sources)
        t0 = time.perf_counter()
        # Each sentence stands in with its passage's vector: the same size and search cost as real ones.
        owner = np.repeat(np.arange(len(passages)), [len(p.sentences) for p in passages])
        path = store.write_index(settings, manifest, passages, matrix, matrix[owner])
        write_s = time.perf_counter() - t0
        disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

        t0 = time.perf_counter()
        retriever = assistant.retriever()
        load_s = time.perf_counter() - t0
        _, queries, _ = load_beir(SCIFACT, "test")
        qs = list(queries.values())[: args.queries]
        flat = faiss.IndexFlatIP(matrix.shape[1])
        flat.add(matrix)
        hnsw = faiss.IndexHNSWFlat(matrix.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        t0 = time.perf_counter()
        hnsw.add(matrix)
        hnsw_build_s = time.perf_counter() - t0
        hnsw.hnsw.efSearch = 64
        for q in qs[:5]:
            assistant.ask(q)
        asked, floor, exact_s, approx, hits = [], [], [], [], []
        for q in qs:
            t0 = time.perf_counter()
            assistant.ask(q)
            asked.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            qv = np.asarray(retriever.encoder.encode([q]))
            t1 = time.perf_counter()
            _, exact = flat.search(qv, 10)
            t2 = time.perf_counter()
            _, found = hnsw.search(qv, 10)
            t3 = time.perf_counter()
            floor.append(t2 - t0)
            exact_s.append(t2 - t1)
            approx.append(t3 - t2)
            hits.append(len(set(exact[0]) & set(found[0])) / 10)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"passages": len(passages), "write_s": write_s, "load_s": load_s, "disk_mb": disk / 2**20,
              "peak_rss_mb": peak_mb, "ask_p50_ms": p(asked, 0.5), "ask_p95_ms": p(asked, 0.95),
              "floor_p50_ms": p(floor, 0.5), "floor_p95_ms": p(floor, 0.95),
              "exact_search_p50_ms": p(exact_s, 0.5), "hnsw_search_p50_ms": p(approx, 0.5),
              "hnsw_build_s": hnsw_build_s, "hnsw_recall@10": statistics.mean(hits)}
    report["p50_ratio"] = report["ask_p50_ms"] / report["floor_p50_ms"]
    out = ROOT / "benchmarks" / "results" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        print(f"{key:<32}{value:>12,.3f}" if isinstance(value, float) else f"{key:<32}{value:>12,}")
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

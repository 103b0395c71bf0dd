"""Same answers from Qdrant? Top-10 of the FAISS + bm25s retriever and of the Qdrant store, question by question.

Run:  .venv/bin/python benchmarks/qdrant_parity.py [--beir ../shared/benchmarks/scifact] [--depth 100]

For the gold set (the index in ./index, built by `assistant index`) and a BEIR dataset (indexed in a
temporary folder as `assistant eval --beir` does), every question is encoded once and ranked by the
retriever (exact cosine over the FAISS vectors, bm25s, RRF over the full rankings) and by the Qdrant
store (exact search) through both transports: qdrant-client local mode and Qdrant Edge. Reported
per mode (dense, bm25, hybrid) and transport: the share of questions whose top-10 is identical in
order; identical but for the order of tied scores; identical but for which copy of a passage found
in several articles comes first; the same set; and the mean overlap. Hybrid runs with the fusion
done here over Qdrant's two rankings (the store's default), and done by Qdrant: the BM25 weight
spelled out as copies of the searches, and Qdrant's own weighted RRF. The gold set also runs every
question filtered to one article and to a date range. Differences are
listed in the JSON (benchmarks/results/qdrant_parity.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import config  # noqa: E402
from assistant.answer.retrieve import Filters, Retriever, rrf  # noqa: E402
from assistant.evals.beir import build_temporary_index, load_beir  # noqa: E402
from assistant.evals.gold import load_gold  # noqa: E402
from assistant.index.qdrant import plan  # noqa: E402
from assistant.index.qdrant.client import ClientTransport  # noqa: E402
from assistant.index.qdrant.collection import QdrantStore  # noqa: E402
from assistant.index.qdrant.edge import EdgeTransport  # noqa: E402
from assistant.session import Assistant  # noqa: E402

K = 10
TIE = 1e-5  # scores closer than this count as tied (float32 sums in another order)


def open_stores(retriever: Retriever, folder: Path, depth: int, edge_only: bool = False) -> dict[str, QdrantStore]:
    """The retriever's generation synced into a local-mode collection and an Edge shard."""
    snap = retriever.snapshot
    key = f"{snap.manifest.generation}:{snap.manifest.built}|{snap.manifest.model.name}"
    stores = {"client-local": QdrantStore(ClientTransport("parity", path=folder / "local"), exact=True, depth=depth),
              "edge": QdrantStore(EdgeTransport(folder / "edge"), exact=True, depth=depth)}
    if edge_only:  # local mode scans sparse vectors in Python: minutes on SciFact
        stores.pop("client-local").transport.close()
    if edge_only:  # local mode scans sparse vectors in Python: minutes on SciFact
        stores.pop("client-local").transport.close()
    for name, s in stores.items():
        t0 = time.perf_counter()
        report = s.sync(key, snap.passages, snap.dense_matrix(), snap.manifest.sources)
        print(f"  {name}: synced {report.upserted} points in {time.perf_counter() - t0:.1f} s, "
              f"{report.collisions} term-id collisions", file=sys.stderr)
    return stores


def compare(ref: Sequence[tuple[int, float]], got: Sequence[tuple[int, float]], score: Callable[[int], float],
            text: Callable[[int], str]) -> dict[str, Any]:
    """How two rankings of (row, score) agree: in order; in order up to tied scores (each row scored by
    the reference's ``score``); as the same passage texts in order (copies of one text in several
    articles swapped); as sets; and the share of the reference's rows Qdrant returned."""
    a, b = [r for r, _ in ref], [r for r, _ in got]
    tied = len(a) == len(b) and all(abs(score(x) - score(y)) <= TIE * max(1.0, abs(score(x))) for x, y in zip(a, b))
    return {"identical": a == b, "tied": tied, "copies": [text(r) for r in a] == [text(r) for r in b],
            "same_set": set(a) == set(b), "overlap": len(set(a) & set(b)) / len(a) if a else float(not b)}


Ranked = list[tuple[int, float]]


def rankings(retriever: Retriever, question: str, vector: np.ndarray, filters: Filters,
             store: QdrantStore) -> dict[str, tuple[Ranked, Ranked, Callable[[int], float]]]:
    """Per mode: the retriever's top-10 and the store's, as (row, score), and the retriever's score of any row."""
    scores = retriever.score(question, filters, vector)
    where = plan.conditions(filters.sources, filters.publishers, filters.since, filters.until)
    tokens = retriever.lexical.terms(question)
    s = retriever.settings
    out = {}
    for mode, got in (("dense", lambda: store.dense(vector, K, where)),
                      ("bm25", lambda: store.bm25(tokens, K, where)),
                      ("hybrid", lambda: store.hybrid(vector, tokens, K, s.rrf_k, s.bm25_weight, where)),
                      ("hybrid-server-fusion",
                       lambda: server_fused(store, vector, tokens, s.rrf_k, s.bm25_weight, where)),
                      ("hybrid-server-native-weights",
                       lambda: server_fused(store, vector, tokens, s.rrf_k, s.bm25_weight, where, spell_out=False))):
        base = mode.split("-")[0]
        ref = retriever.rank(scores, K, base)
        lists = {"dense": scores.dense, "bm25": scores.bm25}
        full = lists[base] if base in lists else rrf(scores.dense, scores.bm25, s.rrf_k, s.bm25_weight)
        table = dict(zip(full.rows.tolist(), full.scores.tolist()))
        out[mode] = ([(retriever.passages.row(h.passage.id), h.score) for h in ref], got(),
                     lambda r, t=table: float(t.get(r, 0.0)))
    return out


def server_fused(store: QdrantStore, vector: np.ndarray, tokens: Sequence[str], rrf_k: int, weight: float,
                 where: tuple[plan.Condition, ...], spell_out: bool = True) -> Ranked:
    store.fusion = "server"
    try:
        return store.hybrid(vector, tokens, K, rrf_k, weight, where, spell_out)
    finally:
        store.fusion = "client"


def run(retriever: Retriever, questions: Sequence[tuple[str, str, Filters]], stores: dict[str, QdrantStore],
        label: Callable[[int], str]) -> dict[str, Any]:
    """Agreement figures per transport and mode over ``questions`` (id, text, filters)."""
    vectors = [retriever.encode(q) for _, q, _ in questions]
    result: dict[str, Any] = {}
    for name, store in stores.items():
        per_mode: dict[str, list[dict[str, Any]]] = {}
        t0 = time.perf_counter()
        for (qid, q, f), v in zip(questions, vectors):
            for mode, (ref, got, score) in rankings(retriever, q, v, f, store).items():
                row = compare(ref, got, score, lambda r: retriever.passages[r].text)
                row["id"] = qid
                if not row["identical"]:
                    row["ref"] = [label(r) for r, _ in ref]
                    row["qdrant"] = [label(r) for r, _ in got]
                per_mode.setdefault(mode, []).append(row)
        result[name] = {"seconds": round(time.perf_counter() - t0, 1), "modes": {m: summary(rows) for m, rows in per_mode.items()}}
    return result


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {"questions": n, "identical": round(sum(r["identical"] for r in rows) / n, 4),
            "identical_up_to_ties": round(sum(r["tied"] for r in rows) / n, 4),
            "identical_up_to_copies": round(sum(r["copies"] for r in rows) / n, 4),
            "same_set": round(sum(r["same_set"] for r in rows) / n, 4),
            "mean_overlap": round(sum(r["overlap"] for r in rows) / n, 4),
            "differences": [r for r in rows if not r["identical"]][:20]}


def gold_questions(retriever: Retriever) -> list[tuple[str, str, Filters]]:
    """Every gold question unfiltered, filtered to one article (in turn), and to one day onward."""
    gold = load_gold(ROOT / "evals" / "gold.jsonl")
    sources = sorted(retriever.sources)
    dates = sorted(s.published for s in retriever.sources.values() if s.published)
    out = [(q.id, q.question, Filters()) for q in gold]
    out += [(f"{q.id}/source", q.question, Filters(sources=(sources[i % len(sources)],))) for i, q in enumerate(gold)]
    if dates:
        out += [(f"{q.id}/since", q.question, Filters(since=dates[len(dates) // 2])) for q in gold]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "scifact")
    parser.add_argument("--depth", type=int, default=100, help="each ranking's depth in a fused search")
    parser.add_argument("--edge-only", action="store_true", help="skip qdrant-client local mode")
    parser.add_argument("--edge-only", action="store_true", help="skip qdrant-client local mode")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "qdrant_parity.json")
    args = parser.parse_args()
    settings = config.from_env(root=ROOT)
    assistant = Assistant.open(settings)
    report: dict[str, Any] = {"depth": args.depth, "k": K}
    with tempfile.TemporaryDirectory(prefix="qdrant-parity-") as tmp:
        retriever = assistant.retriever()
        print(f"gold: {len(retriever.passages)} passages", file=sys.stderr)
        stores = open_stores(retriever, Path(tmp) / "gold", args.depth, args.edge_only)
        report["gold"] = run(retriever, gold_questions(retriever), stores, lambda r: retriever.passages[r].id)
        for s in stores.values():
            s.transport.close()
        if args.beir.is_dir():
            corpus, queries, _ = load_beir(args.beir)
            encoders = build_temporary_index(corpus, assistant.encoders, Path(tmp) / "beir", progress=True)
            beir = Retriever.open(encoders.settings, encoders)
            print(f"{args.beir.name}: {len(beir.passages)} passages", file=sys.stderr)
            stores = open_stores(beir, Path(tmp) / "beir-qdrant", args.depth, args.edge_only)
            questions = [(qid, text, Filters()) for qid, text in queries.items()]
            report[args.beir.name] = run(beir, questions, stores, lambda r: beir.passages[r].source_id)
            for s in stores.values():
                s.transport.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for dataset in ("gold", args.beir.name):
        for name, r in report.get(dataset, {}).items():
            for mode, s in r["modes"].items():
                print(f"{dataset:8} {name:13} {mode:22} n={s['questions']:4} identical {s['identical']:.4f}  "
                      f"up to ties {s['identical_up_to_ties']:.4f}  up to copies {s['identical_up_to_copies']:.4f}  same set {s['same_set']:.4f}  "
                      f"overlap {s['mean_overlap']:.4f}")


if __name__ == "__main__":
    main()

"""Evaluating retrieval on any BEIR-format dataset in a temporary index."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..answer.retrieve import Retriever
from ..config import MODES
from ..errors import AssistantError
from ..index import store
from ..index.embed import Encoders, encode_batches
from ..session import Assistant
from ..types import Passage

# Each document is one passage: no cleaning, no chunking.
WHOLE_DOCUMENTS = store.ChunkerInfo(version=0, max_chars=0)


@dataclass(frozen=True, slots=True)
class BeirRun:
    """nDCG@10 and Recall@100 per mode on one dataset."""

    dataset: str
    documents: int
    queries: int
    modes: dict[str, dict[str, float]]


def load_beir(folder: Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus ``{doc id: title + text}``, queries ``{id: text}`` (only judged ones) and qrels.

    The qrels file has a header row; CRLF line endings are handled by the csv module.
    """
    paths = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise AssistantError(f"{folder} is not a BEIR dataset: missing {', '.join(missing)}")
    corpus: dict[str, str] = {}
    for row in _jsonl(paths[0]):
        corpus[str(row["_id"])] = f"{row.get('title') or ''}\n{row.get('text') or ''}".strip()
    qrels: dict[str, dict[str, int]] = {}
    with open(paths[2], encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or header[:2] != ["query-id", "corpus-id"]:
            raise AssistantError(f"{paths[2]}: expected a header 'query-id corpus-id score'")
        for qid, did, score, *_ in reader:
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    queries = {str(r["_id"]): r["text"] for r in _jsonl(paths[1]) if str(r["_id"]) in qrels}
    return corpus, queries, qrels


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def build_temporary_index(corpus: dict[str, str], encoders: Encoders, folder: Path, progress: bool) -> Encoders:
    """Index every document as one passage under ``folder``; returns the encoders of that index
    (their ``settings`` point there)."""
    tmp = encoders.settings.replace(root=folder, sources_dir=folder / "sources", index_dir=folder / "index")
    moved = encoders.moved(tmp)
    encoder = moved.passage()
    ids = list(corpus)
    passages = [Passage(f"{d}#0", d, corpus[d], 0, len(corpus[d])) for d in ids]
    vectors = encode_batches(encoder, [p.text for p in passages], tmp.batch_size, progress)
    manifest = store.Manifest(
        model=store.ModelInfo(encoder.name, encoder.dim, moved.backend), chunker=WHOLE_DOCUMENTS, built="",
        sources={d: store.SourceEntry(path=d, sha256="", passages=1, title=d) for d in ids})
    # Whole documents, searched but never quoted: no sentences, so no sentence vectors.
    store.write_index(tmp, manifest, passages, vectors, np.empty((0, encoder.dim), dtype=np.float32))
    return moved


def evaluate_beir(folder: Path, assistant: Assistant, modes: Iterable[str] = MODES, split: str = "test",
                  progress: bool = False, wrap: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> BeirRun:
    """nDCG@10 and Recall@100 per mode on a BEIR dataset, in a temporary index beside nothing of the archive's."""
    import ir_measures
    from ir_measures import R, nDCG

    corpus, queries, qrels = load_beir(folder, split)
    qrel_rows = [ir_measures.Qrel(q, d, s) for q, docs in qrels.items() for d, s in docs.items()]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assistant-beir-") as tmp:
        encoders = build_temporary_index(corpus, assistant.encoders, Path(tmp), progress)
        retriever = Retriever.open(encoders.settings, encoders)
        for mode in modes:
            run = [ir_measures.ScoredDoc(qid, h.passage.source_id, h.score)
                   for qid in wrap(list(queries)) for h in retriever.search(queries[qid], k=100, mode=mode)]
            agg = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], qrel_rows, run)
            results[mode] = {"ndcg@10": round(float(agg[nDCG @ 10]), 4), "recall@100": round(float(agg[R @ 100]), 4)}
    return BeirRun(folder.name, len(corpus), len(queries), results)

"""Warm `ask` with passages read from passages.jsonl by offset against all of them held as objects, in one run.

Run:  .venv/bin/python benchmarks/lazy_passages.py ROOT [--questions 400]   (results/lazy_passages-<passages>.json)

ROOT is a project folder with an index (e.g. ``/tmp/assistant-ann/hnsw-int8``, made by
``benchmarks/ann.py``). The retriever is loaded once; each SQuAD 2.0 question is then asked twice
through the whole answer path (``answer.quotes.ask``, as ``ann.py`` does: filler articles have no files),
once with the retriever's passages read by offset (``index.passages.Passages``, as served) and once
with every passage decoded up front and a dict of rows by id (how they were held before), the order
alternating from question to question so that both see the same machine load and the same caches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad2"


class Held(list[Any]):
    """Every passage as an object, and their rows by id: the retriever's passages as they were held before."""

    def __init__(self, passages: Any) -> None:
        super().__init__(passages)
        self._rows = {p.id: i for i, p in enumerate(self)}

    def row(self, passage_id: str) -> int:
        return self._rows[passage_id]


def main() -> None:
    from assistant.answer import quotes
    from assistant.config import Settings
    from assistant.evals.qa import load_questions
    from assistant.session import Assistant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    settings = Settings(root=args.root)
    assistant = Assistant(settings)
    retriever = assistant.retriever()
    kinds: dict[str, Any] = {"by_offset": retriever.passages, "as_objects": Held(retriever.passages)}
    questions = [q.question for q in load_questions(SQUAD / "questions.jsonl")]
    for q in questions[:20]:  # warm-up: model, BM25 and memory-mapped pages
        quotes.ask(q, settings, retriever, assistant.models)
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for i, q in enumerate(questions[20 : 20 + args.questions]):
        for name in sorted(kinds, reverse=bool(i % 2)):
            retriever.passages = kinds[name]
            start = time.perf_counter()
            quotes.ask(q, settings, retriever, assistant.models)
            times[name].append(time.perf_counter() - start)
    p50 = {name: 1000 * statistics.median(t) for name, t in times.items()}
    report = {"root": str(args.root), "passages": len(kinds["by_offset"]), "questions": len(times["by_offset"]),
              **{f"{name}_p50_ms": v for name, v in p50.items()}, "ratio": p50["by_offset"] / p50["as_objects"]}
    text = json.dumps(report, indent=2)
    (ROOT / "benchmarks" / "results" / f"lazy_passages-{report['passages']}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""The retrieval evaluation suite: a gold question set run through the same path as `assistant ask`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MODES
from ..errors import ConfigError
from ..session import Assistant
from ..types import Answer, Location, Passage
from . import qa
from . import report as reports
from .gold import GoldQuestion, load_gold

CUTOFFS = (1, 3, 5, 10)
DEPTH = 10


@dataclass(frozen=True, slots=True)
class GoldRun:
    """One run of the gold set: per mode, metrics for all questions and each split, and each question judged."""

    results: dict[str, Any]
    saved: str | None = None  # the run's JSON in evals/results/ relative to the project root, when saved


class _Files:
    """Source file texts, read once."""

    def __init__(self, root: Path) -> None:
        self.root, self._cache = root, dict[str, str]()

    def text(self, path: str) -> str:
        if path not in self._cache:
            self._cache[path] = (self.root / path).read_bytes().decode("utf-8")
        return self._cache[path]


def judge(q: GoldQuestion, answer: Answer, files: _Files, pool: list[Passage]) -> dict[str, Any]:
    """Per-question facts: ranked passage ids, which are relevant, sources found, abstention, citations.

    A returned passage is relevant when it, or a copy of it in ``also_in``, contains a gold answer;
    every indexed passage that contains one is relevant too (for nDCG's ideal ranking).
    """
    relevant_ranks: list[int] = []
    found_sources: set[str] = set()
    for r in answer.passages:
        spans = [(r.hit.source.id, r.hit.passage.text)]
        spans += [(loc.source.id, _slice(files, loc)) for loc in r.also_in]
        holders = {sid for sid, text in spans if any(a in text for a in q.answers)}
        if holders:
            relevant_ranks.append(r.rank)
            if r.rank <= 5:
                found_sources |= holders
    valid = all(files.text(c.source.path)[c.start : c.end] == c.quote
                and all(_slice(files, loc) for loc in c.also_in) for c in answer.citations)
    ranked = [r.hit.passage.id for r in answer.passages]
    relevant = {ranked[r - 1] for r in relevant_ranks} | {p.id for p in pool if any(a in p.text for a in q.answers)}
    return {"id": q.id, "split": q.split, "kind": q.kind, "answerable": bool(q.answers),
            "abstained": answer.abstained, "relevant_ranks": relevant_ranks, "ranked": ranked,
            "relevant": sorted(relevant) if q.answers else [],
            "source_recall@5": len(found_sources & set(q.sources)) / len(q.sources) if q.sources else None,
            "citations_valid": valid, "citations": len(answer.citations)}


def _slice(files: _Files, loc: Location) -> str:
    return files.text(loc.source.path)[loc.start : loc.end]


def metrics(judged: list[dict[str, Any]]) -> dict[str, float | None]:
    """Aggregate metrics over judged questions (ir-measures for the ranking metrics)."""
    import ir_measures
    from ir_measures import RR, Success, nDCG

    answerable = [j for j in judged if j["answerable"]]
    unanswerable = [j for j in judged if not j["answerable"]]
    qrels: list[Any] = []
    run: list[Any] = []
    for j in answerable:
        qrels += [ir_measures.Qrel(j["id"], pid, 1) for pid in j["relevant"]] or [ir_measures.Qrel(j["id"], "-", 1)]
        run += [ir_measures.ScoredDoc(j["id"], pid, float(DEPTH - i)) for i, pid in enumerate(j["ranked"])]
    wanted = [Success @ k for k in CUTOFFS] + [RR @ DEPTH, nDCG @ DEPTH]
    agg = ir_measures.calc_aggregate(wanted, qrels, run) if answerable else {}
    out: dict[str, float | None] = {f"recall@{k}": _num(agg.get(Success @ k)) for k in CUTOFFS}
    out["mrr@10"], out["ndcg@10"] = _num(agg.get(RR @ DEPTH)), _num(agg.get(nDCG @ DEPTH))
    out["source_recall@5"] = _mean(j["source_recall@5"] for j in answerable)
    abstained = [j for j in judged if j["abstained"]]
    right = [j for j in abstained if not j["answerable"]]
    out["abstention_precision"] = len(right) / len(abstained) if abstained else None
    out["abstention_recall"] = len(right) / len(unanswerable) if unanswerable else None
    out["false_abstention_rate"] = _mean(float(j["abstained"]) for j in answerable)
    out["citation_validity"] = _mean(float(j["citations_valid"]) for j in judged)
    answers = qa.metrics(judged)
    for key in ("answer_accuracy", "first_quote_accuracy", "chars_per_answer"):
        out[key] = None if answers[key] is None else float(answers[key])  # type: ignore[arg-type]
    out["questions"] = float(len(judged))
    return out


def run_suite(gold: list[GoldQuestion], assistant: Assistant, modes: Iterable[str] = ("hybrid",),
              progress: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> dict[str, Any]:
    """Run the gold set once per mode; metrics for all questions and for each split."""
    retriever = assistant.retriever()
    files = _Files(assistant.settings.root)
    pool = list(retriever.passages)  # read once, not once per question
    report: dict[str, Any] = {}
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        judged = []
        for q in progress(gold):
            answer = assistant.ask(q.question, k=DEPTH, mode=mode)
            # Answer accuracy: is a gold answer inside the quoted sentences (not just the passages)?
            quoted = qa.judge(qa.QAQuestion(q.id, q.question, q.answers, q.split, q.kind, q.style), answer)
            judged.append({**judge(q, answer, files, pool),
                           **{k: quoted[k] for k in ("style", "confidence", "correct", "first_correct", "chars",
                                                     "quotes", "passage_hit@5")}})
        report[mode] = {"all": metrics(judged),
                        **{split: metrics([j for j in judged if j["split"] == split]) for split in ("tune", "heldout")},
                        "by_style": {style: qa.breakdown([j for j in judged if j["style"] == style])
                                     for style in sorted({j["style"] for j in judged})},
                        "abstention_curve": qa.curve(judged),
                        "questions": judged}
    return report


def evaluate_gold(assistant: Assistant, modes: Iterable[str], gold_path: Path | None = None, save: bool = True,
                  progress: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> GoldRun:
    """Run the gold set (default ``evals/gold.jsonl``) and save the run with its chart in ``evals/results/``.

    Args:
        assistant: The archive and index to evaluate.
        modes: Retrieval modes to run, each over every question.
        gold_path: The gold set. Default: ``<root>/evals/gold.jsonl``.
        save: Write the run (JSON and PNG chart) to ``<root>/evals/results/``.
        progress: Wraps the questions of each mode, e.g. in a progress bar.
    """
    settings = assistant.settings
    path = gold_path or settings.root / "evals" / "gold.jsonl"
    results = run_suite(load_gold(path), assistant, modes, progress=progress)
    saved = reports.save(results, settings, settings.root / "evals" / "results",
                         {"gold": settings.relative(path)}) if save else None
    return GoldRun(results, settings.relative(saved) if saved else None)


def _num(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None

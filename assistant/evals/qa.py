"""Answer accuracy: is a gold answer inside the quoted sentences? On the gold set or any QA folder.

A QA folder holds ``articles/`` (files ``assistant add`` takes) and ``questions.jsonl``, one question a
line: ``id``, ``question``, ``answers`` (verbatim spans; empty when the articles cannot answer),
optionally ``unanswerable``, ``split`` (``tune``/``heldout``), ``kind`` and ``style``. The gold set's
format is a special case of it. ``run_qa`` imports the articles into a temporary archive through the
normal ``add``/``index`` path and asks every question through ``Assistant.ask``; beside the answers it
scores three naive ways to quote from the same retrieval, so the gain is visible.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..answer.quotes import Evidence
from ..errors import AssistantError
from ..session import Assistant
from ..types import Answer
from .gold import read_rows

SPLITS = ("all", "tune", "heldout")
CURVE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
BASELINES = ("passages", "dense_sentences", "best_overlap")


@dataclass(frozen=True, slots=True)
class QAQuestion:
    """A question with its gold answers; ``answers`` empty means the articles cannot answer it."""

    id: str
    question: str
    answers: tuple[str, ...]
    split: str = "all"
    kind: str = ""
    style: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path) -> list[QAQuestion]:
    """Read a ``questions.jsonl`` (or the gold set).

    Raises:
        AssistantError: no such file, or a line that is not a question.
    """
    return read_rows(path, _question, "a question with id, question and answers",
                     f"no questions at {path}; a QA folder holds articles/ and questions.jsonl")


def _question(row: dict[str, Any]) -> QAQuestion:
    answers = () if row.get("unanswerable") else tuple(str(a) for a in row.get("answers") or ())
    return QAQuestion(str(row["id"]), str(row["question"]), answers, str(row.get("split") or "all"),
                      str(row.get("kind") or ""), str(row.get("style") or ""))


def normalise(text: str) -> str:
    """Lower case, curly quotes straightened, punctuation as spaces, padded: for whole-token containment."""
    text = unicodedata.normalize("NFKC", text).lower().translate(str.maketrans("‘’“”", "''\"\""))
    return " " + " ".join(re.sub(r"[^\w£$€%]+", " ", text).split()) + " "


def holds_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether ``text`` contains one of ``answers`` as whole tokens (case and punctuation aside)."""
    norm = normalise(text)
    return any(normalise(a) in norm for a in answers if a.strip())


def judge(q: QAQuestion, answer: Answer, quotes: list[str] | None = None) -> dict[str, Any]:
    """Per-question facts about one answer; ``quotes``, when given, stand in for its citations and are
    never withheld (the naive quoters)."""
    abstained = answer.abstained if quotes is None else False
    quotes = [c.quote for c in answer.citations] if quotes is None else quotes
    return {"id": q.id, "split": q.split, "kind": q.kind, "style": q.style, "answerable": q.answerable,
            "abstained": abstained, "confidence": round(answer.confidence, 4),
            "correct": q.answerable and not abstained and holds_answer(" \n ".join(quotes), q.answers),
            "first_correct": q.answerable and bool(quotes) and holds_answer(quotes[0], q.answers),
            "passage_hit@5": q.answerable and any(holds_answer(r.hit.passage.text, q.answers)
                                                  for r in answer.passages[:5]),
            "chars": sum(len(x) for x in quotes), "quotes": len(quotes)}


def baseline_quotes(evidence: Evidence) -> dict[str, list[str]]:
    """What three naive quoters would say from the same retrieval (they never abstain).

    ``passages``: the three best passages whole; ``dense_sentences``: the three sentences nearest the
    question in meaning; ``best_overlap``: the one sentence sharing most of the question's weighted terms.
    """
    from ..answer.features import SENTENCE_FEATURES

    cands = evidence.candidates
    cosine, coverage = SENTENCE_FEATURES.index("cosine"), SENTENCE_FEATURES.index("coverage")
    by_cosine: list[int] = np.argsort(-evidence.rows[:, cosine], kind="stable")[:3].tolist() if cands else []
    by_overlap: list[int] = np.argsort(-evidence.rows[:, coverage], kind="stable")[:1].tolist() if cands else []
    return {"passages": [r.hit.passage.text for r in evidence.ranked[:3]],
            "dense_sentences": [cands[i].text for i in by_cosine],
            "best_overlap": [cands[i].text for i in by_overlap]}


def metrics(judged: list[dict[str, Any]]) -> dict[str, float | int | None]:
    """Answer accuracy and abstention figures over judged questions."""
    answerable = [j for j in judged if j["answerable"]]
    unanswerable = [j for j in judged if not j["answerable"]]
    answered = [j for j in judged if not j["abstained"]]
    abstained = [j for j in judged if j["abstained"]]
    return {
        "answerable": len(answerable), "unanswerable": len(unanswerable),
        "answer_accuracy": _mean(j["correct"] for j in answerable),
        "first_quote_accuracy": _mean(j["first_correct"] for j in answerable),
        "passage_recall@5": _mean(j["passage_hit@5"] for j in answerable),
        "chars_per_answer": _mean(j["chars"] for j in answered),
        "quotes_per_answer": _mean(j["quotes"] for j in answered),
        "abstention_precision": _mean(not j["answerable"] for j in abstained),
        "abstention_recall": _mean(j["abstained"] for j in unanswerable),
        "false_abstention": _mean(j["abstained"] for j in answerable),
    }


def curve(judged: list[dict[str, Any]], thresholds: Iterable[float] = CURVE) -> list[dict[str, float | None]]:
    """Abstention precision and recall, and false abstention, were the threshold on confidence moved."""
    out = []
    for t in thresholds:
        moved = [{**j, "abstained": j["confidence"] < t} for j in judged]
        m = metrics(moved)
        out.append({"threshold": t, "abstention_precision": m["abstention_precision"],
                    "abstention_recall": m["abstention_recall"], "false_abstention": m["false_abstention"]})
    return out


def breakdown(judged: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics per split, per style and per kind (each only where the questions say)."""
    out: dict[str, Any] = {s: metrics([j for j in judged if s == "all" or j["split"] == s]) for s in SPLITS}
    for field in ("style", "kind"):
        values = sorted({j[field] for j in judged if j[field]})
        if len(values) > 1:
            out[f"by_{field}"] = {v: {s: metrics([j for j in judged if j[field] == v and (s == "all" or
                                                                                           j["split"] == s)])
                                      for s in SPLITS} for v in values}
    return out


@dataclass(frozen=True, slots=True)
class QARun:
    """Answer accuracy of the assistant and of the naive quoters on one question set."""

    name: str
    articles: int
    passages: int
    results: dict[str, Any]  # breakdown() of the assistant's answers
    baselines: dict[str, dict[str, Any]]  # per naive quoter, metrics per split
    curve: list[dict[str, float | None]]  # abstention trade-off on all questions
    questions: list[dict[str, Any]]  # each judged


def evaluate(assistant: Assistant, questions: list[QAQuestion], name: str, *, k: int = 5,
             progress: Callable[[Iterable[QAQuestion]], Iterable[QAQuestion]] = iter) -> QARun:
    """Ask every question through ``assistant`` and judge the quotes (and the naive quoters')."""
    judged, naive = [], dict[str, list[dict[str, Any]]]({b: [] for b in BASELINES})
    for q in progress(questions):
        evidence = assistant.evidence(q.question, k=k)
        answer = assistant.decide(evidence)
        judged.append(judge(q, answer))
        for b, quotes in baseline_quotes(evidence).items():
            naive[b].append(judge(q, answer, quotes))
    manifest = assistant.manifest()
    return QARun(name, len(manifest.sources) if manifest else 0, manifest.passages if manifest else 0,
                 breakdown(judged),
                 {b: {s: metrics([j for j in js if s == "all" or j["split"] == s]) for s in SPLITS}
                  for b, js in naive.items()},
                 curve(judged), judged)


def open_folder(folder: Path, assistant: Assistant, workdir: Path, *, progress: bool = False) -> Assistant:
    """A new archive in ``workdir`` holding ``folder/articles``, indexed with ``assistant``'s settings."""
    files = sorted(p for p in (folder / "articles").glob("*") if p.is_file())
    if not files:
        raise AssistantError(f"no articles in {folder / 'articles'}; a QA folder holds articles/ and questions.jsonl")
    settings = assistant.settings.replace(root=workdir, sources_dir=workdir / "sources", index_dir=workdir / "index")
    temporary = Assistant(settings)
    temporary.encoders = assistant.encoders.moved(settings)  # the same model, loaded once
    added = temporary.add([str(p) for p in files], index=True, progress=progress)
    failed = [i for i in added.items if i.status == "error"]
    if failed:
        raise AssistantError(f"{len(failed)} of {len(files)} articles could not be imported: {failed[0].message}")
    return temporary


def run_qa(folder: Path, assistant: Assistant, *, k: int = 5, progress: bool = False,
           wrap: Callable[[Iterable[QAQuestion]], Iterable[QAQuestion]] = iter) -> QARun:
    """Import ``folder``'s articles into a temporary archive and evaluate its questions there."""
    questions = load_questions(folder / "questions.jsonl")
    with tempfile.TemporaryDirectory(prefix="assistant-qa-") as tmp:
        temporary = open_folder(folder, assistant, Path(tmp), progress=progress)
        return evaluate(temporary, questions, folder.name, k=k, progress=wrap)


def _mean(values: Iterable[bool | int | float]) -> float | None:
    vals = [float(v) for v in values]
    return round(sum(vals) / len(vals), 4) if vals else None

"""Fit the quote and abstention models on the ``tune`` questions only, and write ``answer/weights.json``.

    python -m assistant.evals.train [--gold evals/gold.jsonl] [--qa FOLDER ...] [--out FILE]

Each question set is run through the same retrieval as ``assistant ask``. The quote model learns which
candidate sentences hold a gold answer; the abstention model learns, from the best candidates of each
question, whether the question is answerable. Every question weighs the same however many candidates
it has, and every question set the same however many questions it has, so the models do not learn
one collection's habits. The abstention threshold is
the highest one whose false abstention on the tune questions stays at or under ``MAX_FALSE_ABSTENTION``.
Fitting needs scipy (in the ``dev`` extra); using the models needs numpy only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ..answer import model
from ..answer.features import QUESTION_FEATURES, SENTENCE_FEATURES, question_features
from ..config import from_env
from ..session import Assistant
from .qa import QAQuestion, holds_answer, load_questions, open_folder

MAX_FALSE_ABSTENTION = 0.03
KEEP_RATIO = 0.15  # a further quote must reach this share of the best quote's probability (quotes as long as before)
K = 5


@dataclass(frozen=True, slots=True)
class Example:
    """One tune question's candidates, their labels, and whether it is answerable."""

    dataset: str
    rows: np.ndarray
    labels: np.ndarray
    answerable: bool
    unknown_names: bool
    agreement: float


OFF_TOPIC = 100  # tune questions of each collection asked of each other collection


def collect(assistant: Assistant, questions: list[QAQuestion], dataset: str) -> list[Example]:
    """Features and labels of every tune question."""
    out = []
    for q in questions:
        if q.split != "tune":
            continue
        ev = assistant.evidence(q.question, k=K)
        labels = np.array([q.answerable and holds_answer(c.text, q.answers) for c in ev.candidates], dtype=int)
        out.append(Example(dataset, ev.rows, labels, q.answerable, bool(ev.unknown_names), ev.agreement))
    return out


def off_topic(collections: list[tuple[Assistant, list[QAQuestion]]]) -> list[Example]:
    """Questions about one collection asked of another: unanswerable, and far from anything in it.

    The near-topic unanswerable questions of the sets teach the abstention model little about a question
    on another subject altogether; these do.
    """
    out = []
    for i, (archive, _) in enumerate(collections):
        for j, (_, questions) in enumerate(collections):
            if i != j:
                asked = [replace(q, answers=()) for q in questions if q.split == "tune"][:OFF_TOPIC]
                out += collect(archive, asked, "off-topic")
    return out


# Both models may only read evidence one way (1: more of it counts for, -1: against; 0: either way):
# a sentence that shares more of the question's terms, or holds what it asks for, can never look less like
# the answer. Free fits learn the habits of one collection instead; for instance the adversarial
# unanswerable questions of SQuAD 2.0 are written to match their decoy sentence word for word, and a free
# fit learns from them that a good match means "unanswerable", which is wrong for an archive that simply
# has the answer.
SIGNS = {"best": 1, "second": 0, "best_cosine": 1, "best_passage_cosine": 1, "best_coverage": 1, "top_typed": 1,
         "top_untyped": -1, "top_missing": -1, "unknown_names": -1, "agreement": 1,
         "cosine": 1, "cosine_gap": 1, "passage_cosine": 0, "passage_rank": 1, "coverage": 1, "context_coverage": 1,
         "typed": 1, "untyped": -1, "quoted_say": 1, "novelty": 0, "log_length": 0, "cosine_rank": 1,
         "missing": -1, "negation_mismatch": -1, "typed_coverage": 1, "figure_missing": -1, "top_figure_missing": -1}


def _fit_signed(rows: np.ndarray, labels: np.ndarray, weights: np.ndarray, names: tuple[str, ...]) -> model.Linear:
    """A logistic regression (L2, C = 1, weighted rows) whose coefficients keep the signs in SIGNS."""
    from scipy.optimize import minimize

    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale == 0] = 1.0
    x, y = (rows - mean) / scale, labels.astype(np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(weights * (np.logaddexp(0.0, z) - y * z)) + 0.5 * theta[:-1] @ theta[:-1])
        grad_z = weights * (p - y)
        return value, np.append(x.T @ grad_z + theta[:-1], grad_z.sum())

    bounds = [(0.0, None) if SIGNS[n] > 0 else (None, 0.0) if SIGNS[n] < 0 else (None, None) for n in names]
    fit = minimize(loss, np.zeros(len(names) + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)])
    return model.Linear(names, mean, scale, np.asarray(fit.x[:-1], dtype=np.float64), float(fit.x[-1]))


def _weights(examples: list[Example], sizes: list[int]) -> np.ndarray:
    """Row weights under which every question weighs the same within its dataset, and every dataset the same."""
    questions: dict[str, int] = {}
    for e in examples:
        questions[e.dataset] = questions.get(e.dataset, 0) + 1
    w: np.ndarray = np.concatenate([np.full(n, 1.0 / (n * questions[e.dataset])) for e, n in zip(examples, sizes)])
    return w / float(w.mean())


def fit(examples: list[Example], trained_on: dict[str, Any]) -> model.Models:
    """Fit both models and choose the abstention threshold on ``examples`` (tune questions)."""
    answerable = [e for e in examples if e.answerable and len(e.rows)]
    quote = _fit_signed(np.vstack([e.rows for e in answerable]), np.concatenate([e.labels for e in answerable]),
                        _weights(answerable, [len(e.rows) for e in answerable]), SENTENCE_FEATURES)
    qrows = np.vstack([question_features(quote.probability(e.rows), e.rows, e.unknown_names, e.agreement)
                       for e in examples])
    qlabels = np.array([e.answerable for e in examples], dtype=int)
    answerable_model = _fit_signed(qrows, qlabels, _weights(examples, [1] * len(examples)), QUESTION_FEATURES)
    confidence = answerable_model.probability(qrows)
    threshold = choose_threshold(confidence, qlabels.astype(bool))
    return model.Models(quote, answerable_model, threshold, KEEP_RATIO, trained_on)


def choose_threshold(confidence: np.ndarray, answerable: np.ndarray) -> float:
    """The highest threshold (in steps of 0.01) whose false abstention stays within MAX_FALSE_ABSTENTION."""
    best = 0.0
    for t in np.arange(0.0, 1.0, 0.01):
        if answerable.any() and float(np.mean(confidence[answerable] < t)) <= MAX_FALSE_ABSTENTION:
            best = round(float(t), 2)
    return best


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m assistant.evals.train", description=__doc__.split("\n")[0])
    parser.add_argument("--gold", type=Path, default=Path("evals/gold.jsonl"), help="gold set over ./sources")
    parser.add_argument("--qa", type=Path, action="append", default=[], help="a QA folder (repeatable)")
    parser.add_argument("--out", type=Path, default=model.WEIGHTS)
    args = parser.parse_args(argv)
    assistant = Assistant(from_env())
    gold = load_questions(args.gold)
    examples = collect(assistant, gold, "gold")
    trained_on: dict[str, Any] = {"gold": len(examples)}
    collections = [(assistant, gold)]
    with tempfile.TemporaryDirectory(prefix="assistant-train-") as tmp:
        for n, folder in enumerate(args.qa):
            other = open_folder(folder, assistant, Path(tmp) / str(n))
            questions = load_questions(folder / "questions.jsonl")
            found = collect(other, questions, folder.name)
            examples += found
            trained_on[folder.name] = len(found)
            collections.append((other, questions))
        far = off_topic(collections)
    examples += far
    trained_on["off-topic"] = len(far)
    trained_on["date"] = date.today().isoformat()
    models = fit(examples, trained_on)
    args.out.write_text(json.dumps(models.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(examples)} tune questions, abstain below {models.abstain_below:.2f}")


if __name__ == "__main__":
    main()

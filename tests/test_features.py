"""Quote features, the linear models and answer accuracy scoring: exact, hand-made cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.answer import model
from assistant.answer.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    holds,
    is_question,
    question_type,
    quotable,
)
from assistant.errors import ConfigError
from assistant.evals.qa import holds_answer, load_questions, metrics
from assistant.evals.train import choose_threshold


@pytest.mark.parametrize(("question", "kind"), [
    ("How many children are in care in England?", "amount"),
    ("how much money is spent on children's social care", "amount"),
    ("When will the final report be published?", "when"),
    ("In what year did the review start?", "when"),
    ("Who is leading the review?", "who"),
    ("Which charity criticised the report?", "who"),
    ("Where did MacAlister give his first interview?", "where"),
    ("What did Josh MacAlister say about the system?", "say"),
    ("Why are more children going into care?", "other"),
])
def test_question_type(question: str, kind: str) -> None:
    assert question_type(question) == kind


def test_an_amount_is_a_figure_the_question_does_not_state() -> None:
    words = {"how", "many", "referrals", "in", "2019", "20"}
    assert holds("amount", "There were 642,980 referrals in 2019-20.", words)
    assert holds("amount", "Spending was £10.5 billion.", words)
    assert not holds("amount", "The figures at 2019-20 compared to a decade earlier in 2009-10 are as follows:", words)
    assert not holds("amount", "Referrals went up in 2019-20.", words)


def test_a_person_is_a_name_the_question_does_not_state() -> None:
    words = {"who", "leads", "the", "review"}
    assert holds("who", "The review is led by Josh MacAlister, a former teacher.", words)
    assert not holds("who", "The review is led by a former teacher.", words)
    assert not holds("who", "Josh MacAlister said so.", {"what", "did", "josh", "macalister", "say"})


def test_quoted_words_answer_a_question_about_what_someone_said() -> None:
    assert holds("say", "“It is a 30-year-old tower of Jenga held together with Sellotape,” he said.", set())
    assert not holds("say", "The review details problems across the system.", set())


def test_a_sentence_that_asks_is_recognised() -> None:
    assert is_question("What should happen next?")
    assert is_question("“Who decides?”")
    assert not is_question("The review asked what should happen next.")


def test_only_sentences_that_tell_something_are_quotable() -> None:
    assert quotable("The review asked what should happen next.")
    assert not quotable("What should happen next?")
    assert not quotable("He said,")


def test_a_figure_hyphened_to_a_word_is_not_an_amount() -> None:
    assert not holds("amount", "It is a 30-year-old tower of Jenga.", {"how", "many"})
    assert holds("amount", "It is 30 years old.", {"how", "old"})


def _linear(names: tuple[str, ...], coef: list[float]) -> model.Linear:
    n = len(names)
    return model.Linear(names, np.zeros(n), np.ones(n), np.array(coef, dtype=np.float64), 0.0)


def test_linear_probability_and_round_trip(tmp_path: Path) -> None:
    quote = _linear(SENTENCE_FEATURES, [1.0] + [0.0] * (len(SENTENCE_FEATURES) - 1))
    rows = np.zeros((2, len(SENTENCE_FEATURES)))
    rows[0, 0], rows[1, 0] = 2.0, -2.0
    p = quote.probability(rows)
    assert p[0] == pytest.approx(1 / (1 + np.exp(-2.0))) and p[1] == pytest.approx(1 / (1 + np.exp(2.0)))
    models = model.Models(quote, _linear(QUESTION_FEATURES, [0.5] * len(QUESTION_FEATURES)), 0.3, 0.4, {"gold": 1})
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(models.to_json()), encoding="utf-8")
    again = model.load(path)
    assert again.abstain_below == 0.3 and np.array_equal(again.quote.coef, quote.coef)


def test_weights_for_other_features_are_refused(tmp_path: Path) -> None:
    data = model.load().to_json()
    data["quote"]["features"] = data["quote"]["features"][:-1]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="assistant.evals.train"):
        model.load(path)


def test_the_shipped_weights_load() -> None:
    models = model.load()
    assert 0.0 <= models.abstain_below < 1.0
    assert models.trained_on  # says what it was fitted on


def test_an_answer_counts_when_its_whole_tokens_are_quoted() -> None:
    assert holds_answer("There were 642,980 referrals in 2019-20.", ["642,980 referrals"])
    assert holds_answer("Led by Josh MacAlister, the review…", ["josh macalister"])
    assert holds_answer("a “30-year-old tower of Jenga”", ['30-year-old tower of Jenga'])
    assert not holds_answer("There were 1642,980 referrals.", ["642,980"])
    assert not holds_answer("anything", [])


def test_metrics_count_accuracy_over_answerable_questions_only() -> None:
    judged = [
        {"answerable": True, "abstained": False, "correct": True, "first_correct": False, "passage_hit@5": True,
         "chars": 100, "quotes": 2},
        {"answerable": True, "abstained": True, "correct": False, "first_correct": False, "passage_hit@5": True,
         "chars": 0, "quotes": 0},
        {"answerable": False, "abstained": True, "correct": False, "first_correct": False, "passage_hit@5": False,
         "chars": 0, "quotes": 0},
        {"answerable": False, "abstained": False, "correct": False, "first_correct": False, "passage_hit@5": False,
         "chars": 50, "quotes": 1},
    ]
    m = metrics(judged)
    assert m["answer_accuracy"] == 0.5 and m["first_quote_accuracy"] == 0.0
    assert m["false_abstention"] == 0.5 and m["abstention_recall"] == 0.5 and m["abstention_precision"] == 0.5
    assert m["chars_per_answer"] == 75.0


def test_threshold_keeps_false_abstention_within_bounds() -> None:
    # 100 answerable questions: 3 may abstain (3%), a fourth may not.
    confidence = np.array([0.5, 0.6, 0.7, 0.8] + [0.95] * 96 + [0.2, 0.1])
    answerable = np.array([True] * 100 + [False] * 2)
    t = choose_threshold(confidence, answerable)
    assert t == 0.8  # 0.5, 0.6 and 0.7 abstain; at 0.81 the fourth would too
    assert float(np.mean(confidence[answerable] < t)) <= 0.03 and (confidence[~answerable] < t).all()


def test_questions_load_in_both_formats(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "answers": ["x"], "split": "tune"}\n'
                    '{"id": "b", "question": "R?", "answers": [], "unanswerable": true}\n'
                    '{"id": "q1", "question": "S?", "answers": [], "sources": [], "kind": "unanswerable", '
                    '"split": "heldout", "style": "reader"}\n', encoding="utf-8")
    qs = load_questions(path)
    assert [q.answerable for q in qs] == [True, False, False]
    assert qs[2].style == "reader" and qs[1].split == "all"


def test_the_fit_keeps_each_feature_reading_one_way() -> None:
    from assistant.evals.train import _fit_signed

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(400, len(SENTENCE_FEATURES)))
    cov, missing = SENTENCE_FEATURES.index("coverage"), SENTENCE_FEATURES.index("missing")
    # In this data more of the question's terms *and* a missing rare term both go with the answer;
    # only the first may be learnt.
    labels = (rows[:, cov] + rows[:, missing] + 0.3 * rng.normal(size=400) > 0).astype(int)
    fitted = _fit_signed(rows, labels, np.ones(400), SENTENCE_FEATURES)
    assert fitted.coef[cov] > 1.0 and fitted.coef[missing] == 0.0
    p = fitted.probability(rows)
    assert ((p > 0.5) == labels.astype(bool)).mean() > 0.7


def test_items_of_the_asked_type_are_found_where_they_stand() -> None:
    from assistant.answer.features import typed_items

    words = {"how", "many", "children", "were", "adopted", "in", "2020"}
    near = "In 2020, 3,440 children were adopted from care, said Vicky Ford."
    assert [near[a:b] for a, b in typed_items("amount", near, words)] == ["3,440"]
    assert typed_items("amount", "The figures for 2019-20 are as follows:", words) == []
    assert [near[a:b] for a, b in typed_items("who", near, words)] == ["Vicky Ford"]
    assert [near[a:b] for a, b in typed_items("when", near, words)] == ["2020"]
    assert typed_items("other", near, words) == []


def test_a_figure_the_question_states_must_be_in_the_sentence_or_beside_it(tmp_path: Path) -> None:
    from assistant.answer.features import Candidate, Question, sentence_features
    from assistant.index import lexical
    from assistant.types import Hit, Passage, SourceInfo

    texts = ["There were 642,980 referrals in 2019-20.", "Referrals rose by 7% on 2009-10.", "Spending fell."]
    lexical.build(texts, tmp_path)
    lex = lexical.Lexical(tmp_path)
    source = SourceInfo("s", "sources/s.md", "S", None, None, None)
    hit = Hit(Passage("s#0", "s", texts[0], 0, len(texts[0])), source, 1.0, 1.0)

    def figure_missing(question: str, sentence: str, neighbours: tuple[str, ...] = ()) -> float:
        c = Candidate(hit, 0, len(sentence), sentence, 0, 0, neighbours)
        rows = sentence_features(Question(question, lex), [c], np.zeros(1))
        return float(rows[0, SENTENCE_FEATURES.index("figure_missing")])

    assert figure_missing("How many referrals were there in 2018-19?", texts[0]) == 1.0
    assert figure_missing("How many referrals were there in 2019-20?", texts[0]) == 0.0
    assert figure_missing("How many referrals were there in 2019-20?", texts[1], (texts[0],)) == 0.0
    assert figure_missing("How many referrals were there?", texts[2]) == 0.0  # no figure asked about

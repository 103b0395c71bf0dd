"""What a candidate quote says, measured against the question: the inputs of the quote and abstention models.

Each retrieved sentence gets a row of ``SENTENCE_FEATURES``: how close its meaning is to the question
(cosine of the sentence vectors stored at index time), how much of the question's weighted terms it and
its neighbours contain, whether it holds what the question asks for (a figure for *how many*, a date
for *when*, a name for *who*, quoted words for *what did X say*), and how it ranks. The question as a
whole gets a row of ``QUESTION_FEATURES`` built from its best candidates, from which the abstention
model decides whether the archive answers at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..index import lexical
from ..types import Hit

QUESTION_TYPES = ("when", "amount", "who", "where", "say", "other")
SENTENCE_FEATURES = (
    "cosine",  # sentence vector . question vector
    "cosine_gap",  # cosine minus the best candidate's cosine
    "passage_cosine",
    "passage_rank",  # 1 / (1 + rank of its passage group); 0 for passages found by sentence search only
    "coverage",  # IDF-weighted share of the question's terms in the sentence
    "context_coverage",  # the same over the sentence and its neighbours
    "typed",  # holds what the question asks for
    "untyped",  # the question asks for a type of answer and the sentence has none
    "quoted_say",  # quoted words, for a question about what someone said
    "novelty",  # share of the sentence's terms that are not the question's
    "log_length",
    "cosine_rank",  # 1 / (1 + rank of its cosine among the candidates)
    "missing",  # rarest question term absent from the sentence and its neighbours (IDF, 0..1)
    "negation_mismatch",  # one of question and sentence is negated, the other not
    "typed_coverage",  # the question's weighted terms within WINDOW characters of what it asks for
    "figure_missing",  # a figure or year the question states ("in 2018-19") is not in the sentence or its neighbours
)
QUESTION_FEATURES = (
    "best",  # quote model's probability for the best candidate
    "second",
    "best_cosine",
    "best_passage_cosine",
    "best_coverage",
    "top_typed",
    "top_untyped",
    "top_missing",
    "unknown_names",  # a name in the question that no article contains
    "agreement",  # share of the dense top 5 also in the BM25 top 5
    "top_figure_missing",
)

_WHEN = re.compile(r"^\s*when\b|\bwhen (is|was|were|did|does|will)\b|\b(what|which) (year|date|day|month|century|"
                   r"decade|time|period)\b|\bhow long ago\b", re.I)
_AMOUNT = re.compile(r"\bhow (many|much|long|old|large|big|far|often|tall|high|fast)\b|\bwhat (percentage|proportion|"
                     r"share|number|amount|age|fraction)\b|\bnumber of\b|\bwhat is the (population|cost|size|rate)\b|"
                     r"\bby how\b", re.I)
_WHO = re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|are|did|does|led|leads|runs|ran)\b|"
                  r"\bwhich (person|people|man|woman|organi[sz]ation|group|charity|company|minister|council)\b", re.I)
_WHERE = re.compile(r"^\s*where\b|\bwhere (is|was|were|did|does)\b|\b(what|which) (country|city|town|place|region|"
                    r"county|state|area|continent|river)\b", re.I)
_SAY = re.compile(r"\b(say|said|says|saying|told|tell|describe[sd]?|call(ed|s)?|quote[sd]?|think|thinks|thought|"
                  r"warn(ed|s)?|comment(ed|s)?|according to)\b", re.I)
_NEGATION = re.compile(r"\b(not|never|no|none|nothing|neither|nor|without|cannot|fail(ed|s)? to)\b|n['’]t\b", re.I)
# A figure; one hyphened to a word ("30-year-old") describes rather than counts, and is left out.
_FIGURE = re.compile(r"(?<![\w.\-/])[£$€]?\d(?:[\d,.]*\d)?(?!\d)(?:[-/]\d\d(?!\d))?(?!-[A-Za-z])"
                     r"(?:\s?(?:bn|billion|million|m|k|%|per cent))?")
_YEARISH = re.compile(r"^(1[89]\d\d|20\d\d)(-\d\d)?$|^\d{4}/\d\d$")
_NUMBER_WORD = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                          r"fifty|hundred|thousand|million|billion|half|third|quarter|dozen|double|doubled|tripled)\b",
                          re.I)
_DATE = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(January|February|March|April|May|June|July|August|September|"
                   r"October|November|December)\b|\bcentury\b")
_PERSON = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-zA-Z'’]+)+")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z\-]+")
# A quotation opens: a quote mark at the start or after a space, colon, bracket or dash, then a word
# (an apostrophe inside a word, as in "Review’s", opens nothing). It may close in a later sentence.
_QUOTED = re.compile(r"(?:^|(?<=[\s:(\[—–-]))[\"“”‘’']\s*\w")
_WORD = re.compile(r"[\w’']+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence of a retrieved passage: ``text == file_text[start:end]``."""

    hit: Hit
    start: int
    end: int
    text: str
    group_rank: int  # rank of its passage group; the number of groups for passages found by sentence search
    row: int  # its row in the index's sentence vectors
    neighbours: tuple[str, ...]  # the sentences before and after it in its passage


def question_type(question: str) -> str:
    """What the question asks for: one of ``QUESTION_TYPES``."""
    for kind, pattern in (("when", _WHEN), ("amount", _AMOUNT), ("who", _WHO), ("where", _WHERE), ("say", _SAY)):
        if pattern.search(question):
            return kind
    return "other"


def holds(kind: str, sentence: str, question_words: set[str]) -> bool:
    """Whether ``sentence`` holds an answer of type ``kind`` that the question does not already state."""
    return bool(typed_items(kind, sentence, question_words)) or _holds_unplaced(kind, sentence, question_words)


def _holds_unplaced(kind: str, sentence: str, question_words: set[str]) -> bool:
    """The answers of a type that ``typed_items`` does not place: number words, places, reporting verbs."""
    if kind == "amount":
        return bool(_NUMBER_WORD.search(sentence))
    if kind == "where":
        return any(w.lower() not in question_words for w in _CAPITALISED.findall(sentence))
    if kind == "say":
        return bool(re.search(r"\b(said|says|told|added|warned|described)\b", sentence))
    return False


WINDOW = 80  # characters on each side of an answer-type item that count as its surroundings


def typed_items(kind: str, sentence: str, question_words: set[str]) -> list[tuple[int, int]]:
    """Where ``sentence`` holds what a ``kind`` question asks for, as (start, end) spans."""
    if kind == "amount":
        return [m.span() for m in _FIGURE.finditer(sentence)
                if not _YEARISH.match(m.group().strip()) and m.group().strip().lower() not in question_words]
    if kind == "when":
        return [m.span() for m in _DATE.finditer(sentence)]
    if kind == "who":
        return [m.span() for m in _PERSON.finditer(sentence)
                if all(w.lower() not in question_words for w in m.group().split())]
    if kind == "say":
        return [m.span() for m in _QUOTED.finditer(sentence)]
    return []


MIN_WORDS = 4  # shorter sentences ("He said,") say nothing on their own


def quotable(sentence: str) -> bool:
    """Whether a sentence can stand as an answer: it tells rather than asks, in MIN_WORDS words or more."""
    return not is_question(sentence) and len(_WORD.findall(sentence)) >= MIN_WORDS


def is_question(sentence: str) -> bool:
    """A sentence that asks rather than tells is never an answer."""
    return sentence.rstrip(" \"'”’)").endswith("?")


class Question:
    """A question's terms, type and words, worked out once for all its candidates."""

    def __init__(self, text: str, lex: lexical.Lexical) -> None:
        self.text = text
        self.kind = question_type(text)
        self.words = {w.lower() for w in _WORD.findall(text)}
        self.terms = set(lex.terms(text))
        self.lex = lex
        self.total = sum(lex.idf(t) for t in self.terms) or 1.0
        self.negated = bool(_NEGATION.search(text))
        self.about_saying = self.kind == "say" or bool(_SAY.search(text))
        self.figures = {m.group().strip() for m in _FIGURE.finditer(text)}

    def coverage(self, terms: set[str]) -> float:
        """IDF-weighted share of the question's terms found in ``terms``."""
        return sum(self.lex.idf(t) for t in self.terms & terms) / self.total

    def missing(self, terms: set[str]) -> float:
        """IDF of the rarest question term absent from ``terms``, over the IDF of an unseen term."""
        absent = self.terms - terms
        return max((self.lex.idf(t) for t in absent), default=0.0) / self.lex.unknown_idf


def sentence_features(q: Question, candidates: Sequence[Candidate], cosines: np.ndarray) -> np.ndarray:
    """One row of ``SENTENCE_FEATURES`` per candidate."""
    out = np.zeros((len(candidates), len(SENTENCE_FEATURES)), dtype=np.float64)
    if not candidates:
        return out
    own = q.lex.terms_of([c.text for c in candidates])
    around = q.lex.terms_of([n for c in candidates for n in c.neighbours])
    cosine_rank = np.empty(len(candidates), dtype=np.float64)
    cosine_rank[np.argsort(-cosines, kind="stable")] = np.arange(len(candidates))
    at = 0
    for i, c in enumerate(candidates):
        terms = set(own[i])
        context = terms.union(*(set(t) for t in around[at:at + len(c.neighbours)]))
        at += len(c.neighbours)
        items = typed_items(q.kind, c.text, q.words)
        typed = q.kind != "other" and (bool(items) or _holds_unplaced(q.kind, c.text, q.words))
        out[i] = (
            cosines[i], 0.0, c.hit.similarity, 1.0 / (1 + c.group_rank), q.coverage(terms), q.coverage(context),
            float(typed), float(q.kind != "other" and not typed),
            float(q.about_saying and bool(_QUOTED.search(c.text))),
            len(terms - q.terms) / max(len(terms), 1), math.log(len(c.text) + 1), 1.0 / (1 + cosine_rank[i]),
            q.missing(context), float(q.negated != bool(_NEGATION.search(c.text))),
            _typed_coverage(q, c.text, items),
            float(any(f not in c.text and all(f not in n for n in c.neighbours) for f in q.figures)),
        )
    out[:, 1] = out[:, 0] - out[:, 0].max()
    return out


def _typed_coverage(q: Question, sentence: str, spans: list[tuple[int, int]]) -> float:
    """The most of the question's weighted terms found around any one item (``spans``) of the type it asks for."""
    if not spans:
        return 0.0
    windows = q.lex.terms_of([sentence[max(a - WINDOW, 0) : b + WINDOW] for a, b in spans])
    return max(q.coverage(set(w)) for w in windows)


def question_features(probabilities: np.ndarray, rows: np.ndarray, unknown_names: bool,
                      agreement: float) -> np.ndarray:
    """The row of ``QUESTION_FEATURES`` for a question whose candidates have ``rows`` of sentence features."""
    if not len(rows):
        return np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, float(unknown_names), agreement, 1.0])
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    best = int(np.argmax(probabilities))
    ordered = np.sort(probabilities)[::-1]
    return np.array([
        ordered[0], ordered[1] if len(ordered) > 1 else 0.0, rows[:, col["cosine"]].max(),
        rows[:, col["passage_cosine"]].max(), rows[:, col["coverage"]].max(), rows[best, col["typed"]],
        rows[best, col["untyped"]], rows[best, col["missing"]], float(unknown_names), agreement,
        rows[best, col["figure_missing"]],
    ])

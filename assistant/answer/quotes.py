"""Answers: verbatim quotes with numbered citations, or a plain abstention."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import Settings
from ..errors import QuestionError
from ..index import lexical
from ..types import Answer, Citation, Hit, Location, Passage, RankedPassage
from .group import SHINGLE, group, same_quote, shingles, words
from .retrieve import Filters, Retriever

MAX_QUESTION_CHARS = 2000
MAX_QUOTES = 3
ABSTENTION = "The articles do not answer this question."
# A capitalised word, not the first of the question or of a sentence in it.
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)(?<![.?!]\s\s)\b[A-Z][a-z]+(?:['’]s)?\b")


@dataclass(frozen=True, slots=True)
class _Sentence:
    hit: Hit
    start: int
    end: int
    text: str
    coverage: float  # IDF-weighted share of the question's terms it contains
    rank: int  # rank of its passage group

    @property
    def score(self) -> float:
        """Coverage, discounted a little for each rank its passage stands below the first."""
        return self.coverage / (1 + 0.1 * self.rank)


def ask(question: str, settings: Settings, retriever: Retriever, *, k: int = 5, mode: str = "hybrid",
        filters: Filters | None = None) -> Answer:
    """Answer ``question`` with quotes from the archive (``Assistant.ask`` calls this).

    Args:
        question: Free text, at most 2,000 characters.
        settings: Thresholds.
        retriever: The loaded index to search.
        k: Passages to return (copies of one passage in other articles count once).
        mode: ``hybrid`` (default), ``dense`` or ``bm25``.
        filters: Restrict to some sources, publishers or dates.

    Returns:
        An Answer whose every quote is an exact slice of its source file.
    """
    question = check_question(question)
    if k < 1:
        raise QuestionError("k must be at least 1")
    hits = retriever.search(question, k=max(4 * k, 20), mode=mode, filters=filters)
    groups = group(hits, lambda h: h.passage.text, settings.group_threshold)
    ranked = tuple(RankedPassage(i + 1, g[0], _locations(g[0], g[1:])) for i, g in enumerate(groups[:k]))
    sentences = _sentences(question, groups[:k], retriever.lexical)
    chosen = _choose(sentences, settings)
    missing = unknown_names(question, retriever.lexical)
    if missing:
        names = " or ".join(missing)
        return Answer(question, True, f"{ABSTENTION} No article mentions {names}.", (), ranked)
    if not chosen or relevance(ranked, sentences) < settings.abstain_below:
        return Answer(question, True, ABSTENTION, (), ranked)
    # One BM25 search for all quotes (their tokens are known already) finds the other articles
    # that carry any of them.
    pool = retriever.lexical_search([t for s in chosen for t in retriever.lexical.terms(s.text)], k=10 * len(chosen))
    citations = tuple(_citation(n + 1, s, pool, settings) for n, s in enumerate(chosen))
    return Answer(question, False, render(citations), citations, ranked)


def relevance(ranked: tuple[RankedPassage, ...], sentences: list[_Sentence]) -> float:
    """How well the archive answers: best passage cosine plus best sentence term coverage (0..2)."""
    best = max((r.hit.similarity for r in ranked), default=0.0)
    return best + max((s.coverage for s in sentences), default=0.0)


def unknown_names(question: str, lex: lexical.Lexical) -> list[str]:
    """Names in the question (capitalised words that do not open a sentence) that no article contains.

    A question about Ofsted or Labour cannot be answered by articles that never name them, however
    close the rest of its words come. Acronyms ("DfE", "LGA") are left out: articles often spell
    the name out instead.
    """
    out = []
    for match in _NAME.finditer(question):
        tokens = lex.terms(match.group(0))
        if tokens and not any(lex.known(t) for t in tokens):
            out.append(match.group(0))
    return out


def render(citations: tuple[Citation, ...]) -> str:
    """Markdown: each quote as a block quote followed by its citation marker."""
    return "\n\n".join(f"> {c.quote} [{c.n}]" for c in citations)


def check_question(question: str) -> str:
    """``question`` stripped, once it is neither empty nor over MAX_QUESTION_CHARS (else QuestionError)."""
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty; ask something about the articles")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question):,} characters; keep it under {MAX_QUESTION_CHARS:,}")
    return question


def _sentences(question: str, groups: list[list[Hit]], lex: lexical.Lexical) -> list[_Sentence]:
    """Every sentence of the retrieved passages, scored against the question, best first."""
    terms = set(lex.terms(question))
    total = sum(lex.idf(t) for t in terms) or 1.0
    spans = [(rank, hit, s, e) for rank, members in enumerate(groups) for hit in members
             for s, e in _passage_spans(hit.passage)]
    found = lex.terms_of([hit.passage.text[s:e] for _, hit, s, e in spans])
    out: list[_Sentence] = []
    for (rank, hit, s, e), words in zip(spans, found):
        coverage = sum(lex.idf(t) for t in terms.intersection(words)) / total
        out.append(_Sentence(hit, hit.passage.start + s, hit.passage.start + e, hit.passage.text[s:e], coverage, rank))
    return sorted(out, key=lambda x: -x.score)


def _choose(sentences: list[_Sentence], settings: Settings) -> list[_Sentence]:
    """Up to MAX_QUOTES distinct sentences that cover the question well."""
    if not sentences or sentences[0].coverage <= 0:
        return []
    floor = 0.5 * sentences[0].score
    chosen: list[_Sentence] = []
    for s in sentences:
        if len(chosen) == MAX_QUOTES or s.score < floor:
            break
        if not any(same_quote(s.text, c.text, settings.group_threshold) for c in chosen):
            chosen.append(s)
    return chosen


def _citation(n: int, s: _Sentence, pool: list[Hit], settings: Settings) -> Citation:
    """The quote, with every other article in ``pool`` that carries the same words."""
    copies: dict[str, Location] = {}
    quote, short = shingles(s.text), len(words(s.text)) < SHINGLE
    for hit in pool:
        sid = hit.source.id
        if sid == s.hit.source.id or sid in copies:
            continue
        text, base = hit.passage.text, hit.passage.start
        if not short and quote.isdisjoint(shingles(text)):
            continue  # no sentence of this passage shares even SHINGLE words in a row with the quote
        for a, b in _passage_spans(hit.passage):
            if same_quote(s.text, text[a:b], settings.group_threshold):
                copies[sid] = Location(hit.source, base + a, base + b)
                break
    return Citation(n, s.text, s.start, s.end, s.hit.source, tuple(copies.values()))


def _passage_spans(p: Passage) -> tuple[tuple[int, int], ...]:
    """Sentences of a passage, relative to its start, as recorded at index time."""
    return tuple((a - p.start, b - p.start) for a, b in p.sentences)


def _locations(primary: Hit, copies: list[Hit]) -> tuple[Location, ...]:
    return tuple(Location(h.source, h.passage.start, h.passage.end) for h in copies
                 if h.source.id != primary.source.id)

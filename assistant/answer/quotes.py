"""Answers: verbatim quotes with numbered citations, or a plain abstention.

An answer is made in two steps. ``gather`` retrieves passages (hybrid search) and the passages of the
sentences nearest the question in meaning, and describes every sentence in them with the features of
``features.py``. ``decide`` scores those sentences with the quote model, asks the abstention model
whether the best of them answer the question at all, and quotes up to three: the best, and any other
that comes close to it and says something else.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from ..config import Settings
from ..errors import QuestionError
from ..index import lexical
from ..types import Answer, Citation, Hit, Location, Passage, RankedPassage
from .features import Candidate, Question, question_features, quotable, sentence_features
from .group import SHINGLE, group, same_quote, shingles, words
from .model import Models
from .retrieve import Filters, Retriever, Scores

MAX_QUESTION_CHARS = 2000
MAX_QUOTES = 3
QUOTE_GROUPS = 5  # candidates come from this many best passage groups, however many are listed (k)
NEAREST_SENTENCES = 10  # the passages of this many sentences nearest the question join the candidates
AGREEMENT_DEPTH = 5
ABSTENTION = "The articles do not answer this question."
# A sentence that only introduces what follows: "Anna Feuchtwang, chief executive of the NCB, said:".
_LEAD_IN = re.compile(r"(?::|\b(?:said|says|added|warned|explained|stated|wrote|argued|insisted|told \w+),)\s*$")
# A capitalised word, not the first of the question or of a sentence in it.
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)(?<![.?!]\s\s)\b[A-Z][a-z]+(?:['’]s)?\b")

Span = tuple[str, int, int]  # a quote's source path, start and end


@dataclass(frozen=True, slots=True)
class Evidence:
    """What retrieval found for a question, before anything is chosen."""

    question: str
    ranked: tuple[RankedPassage, ...]  # the k best passage groups
    candidates: tuple[Candidate, ...]  # every sentence that may be quoted
    rows: np.ndarray  # their features, one row each (``features.SENTENCE_FEATURES``)
    unknown_names: tuple[str, ...]  # names in the question that no article contains
    agreement: float  # share of the dense top 5 that is also in the BM25 top 5


def gather(question: str, settings: Settings, retriever: Retriever, *, k: int = 5, mode: str = "hybrid",
           filters: Filters | None = None, exclude: Collection[Span] = (), focus: str | None = None) -> Evidence:
    """Retrieve and describe the candidate quotes for ``question``.

    Args:
        question: Free text, at most 2,000 characters.
        settings: Grouping threshold.
        retriever: The loaded index to search.
        k: Passage groups to list (copies of one passage in other articles count once); quotes come
            from the best QUOTE_GROUPS of them and the passages of the nearest sentences, whatever k is.
        mode: ``hybrid`` (default), ``dense`` or ``bm25``.
        filters: Restrict to some sources, publishers or dates.
        exclude: Quotes not to give again, as (path, start, end): an earlier answer in a conversation. No
            sentence inside one of them is quoted (a quote may span two sentences).
        focus: What the quotes must answer, when it is not the whole of ``question``: a follow-up is
            searched for together with the question before it, but its quotes are judged by what it
            asks itself.
    """
    question = check_question(question)
    if k < 1:
        raise QuestionError("k must be at least 1")
    # The passages are scored once; the answer's ranking and the dense and BM25 top 5 all rank those scores.
    scores = retriever.score(question, filters)
    hits = retriever.rank(scores, max(4 * k, 4 * QUOTE_GROUPS), mode)
    groups = group(hits, lambda h: h.passage.text, settings.group_threshold)
    ranked = tuple(RankedPassage(i + 1, g[0], _locations(g[0], g[1:])) for i, g in enumerate(groups[:k]))
    found = [(rank, hit) for rank, members in enumerate(groups[:QUOTE_GROUPS]) for hit in members]
    if mode != "bm25":
        near = {int(retriever.sentence_owner[r]) for r in retriever.sentences(scores, NEAREST_SENTENCES)}
        found += [(min(len(groups), QUOTE_GROUPS), hit) for hit in retriever.hits(sorted(near), scores)]
    candidates = _candidates(found, retriever, set(exclude))
    judged_by = question if focus is None else check_question(focus)
    target = scores.vector if focus is None else retriever.encode(judged_by)
    cosines = retriever.sentence_cosine(target, [c.row for c in candidates])
    rows = sentence_features(Question(judged_by, retriever.lexical), candidates, cosines)
    return Evidence(question, ranked, tuple(candidates), rows, tuple(unknown_names(question, retriever.lexical)),
                    _agreement(scores))


def decide(evidence: Evidence, models: Models, settings: Settings, retriever: Retriever) -> Answer:
    """Quote the candidates the quote model rates best, or abstain when the abstention model says so."""
    question, ranked = evidence.question, evidence.ranked
    if evidence.unknown_names:
        names = " or ".join(evidence.unknown_names)
        return Answer(question, True, f"{ABSTENTION} No article mentions {names}.", (), ranked, 0.0)
    probability = models.quote.probability(evidence.rows)
    about = question_features(probability, evidence.rows, False, evidence.agreement)
    confidence = float(models.answerable.probability(about[None, :])[0])
    threshold = models.abstain_below if settings.abstain_below is None else settings.abstain_below
    if not evidence.candidates or confidence < threshold:
        return Answer(question, True, ABSTENTION, (), ranked, confidence)
    chosen = _choose(evidence.candidates, probability, models.keep_ratio, settings)
    # One BM25 search for all quotes (their tokens are known already) finds the other articles
    # that carry any of them.
    pool = retriever.lexical_search([t for c in chosen for t in retriever.lexical.terms(c.text)], k=10 * len(chosen))
    citations = tuple(_citation(n + 1, c, pool, settings) for n, c in enumerate(chosen))
    return Answer(question, False, render(citations), citations, ranked, confidence)


def ask(question: str, settings: Settings, retriever: Retriever, models: Models, *, k: int = 5,
        mode: str = "hybrid", filters: Filters | None = None, exclude: Collection[Span] = (),
        focus: str | None = None) -> Answer:
    """Answer ``question`` with quotes from the archive (``Assistant.ask`` calls this).

    Returns:
        An Answer whose every quote is an exact slice of its source file.
    """
    evidence = gather(question, settings, retriever, k=k, mode=mode, filters=filters, exclude=exclude, focus=focus)
    return decide(evidence, models, settings, retriever)


def _candidates(found: list[tuple[int, Hit]], retriever: Retriever, exclude: set[Span]) -> list[Candidate]:
    """Every quotable sentence of the found passages (each passage once), but those inside excluded quotes."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for rank, hit in found:
        p = hit.passage
        if p.id in seen:
            continue
        seen.add(p.id)
        texts = [p.text[a - p.start : b - p.start] for a, b in p.sentences]
        for i, ((a, b), row) in enumerate(zip(p.sentences, retriever.sentence_rows(p))):
            if not quotable(texts[i]) or any(path == hit.source.path and x <= a and b <= y for path, x, y in exclude):
                continue
            out.append(Candidate(hit, a, b, texts[i], rank, row, tuple(texts[max(i - 1, 0) : i] + texts[i + 1 : i + 2])))
    return out


def _agreement(scores: Scores) -> float:
    """Share of the dense top AGREEMENT_DEPTH that is also in the BM25 top AGREEMENT_DEPTH."""
    dense = set(scores.dense_top(AGREEMENT_DEPTH).rows.tolist())
    bm25 = set(scores.bm25_top(AGREEMENT_DEPTH).rows.tolist())
    return len(dense & bm25) / AGREEMENT_DEPTH


def _choose(candidates: tuple[Candidate, ...], probability: np.ndarray, keep_ratio: float,
            settings: Settings) -> list[Candidate]:
    """The best candidate, and up to MAX_QUOTES - 1 others that come close to it and say something else."""
    order = np.argsort(-probability, kind="stable")
    floor = keep_ratio * probability[order[0]]
    chosen: list[Candidate] = []
    for i in order:
        if len(chosen) == MAX_QUOTES or probability[i] < floor:
            break
        c = candidates[i]
        if not any(same_quote(c.text, d.text, settings.group_threshold) for d in chosen):
            chosen.append(c)
    return _with_what_follows(chosen)


def _with_what_follows(chosen: list[Candidate]) -> list[Candidate]:
    """Quotes that only introduce what follows ("X said:") extended through the next sentence of their passage.

    Quoted alone, such a sentence names a speaker but not what they said. A further quote the extended
    one now contains is dropped.
    """
    out: list[Candidate] = []
    for c in chosen:
        p = c.hit.passage
        after = [b for a, b in p.sentences if a >= c.end]
        if _LEAD_IN.search(c.text) and after:
            c = replace(c, end=after[0], text=p.text[c.start - p.start : after[0] - p.start])
        if any(_within(c, d) for d in out):
            continue
        held = [i for i, d in enumerate(out) if _within(d, c)]  # quotes chosen before that it now holds
        at = held[0] if held else len(out)
        out = [d for i, d in enumerate(out) if i not in held]
        out.insert(at, c)
    return out


def _within(a: Candidate, b: Candidate) -> bool:
    """Whether quote ``a`` lies inside quote ``b``."""
    return a.hit.source.path == b.hit.source.path and b.start <= a.start and a.end <= b.end


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


def _citation(n: int, s: Candidate, pool: list[Hit], settings: Settings) -> Citation:
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

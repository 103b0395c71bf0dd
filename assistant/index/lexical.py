"""BM25 over passages (bm25s), with the tokenizer shared by index, query and sentence scoring."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "bm25"
TERMS_KEPT = 20_000  # texts whose tokens a loaded index remembers


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stemmed word tokens without English stop words (figures split at commas)."""
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(texts, stopwords="en_plus", stemmer=_stemmer(), return_ids=False,
                                             show_progress=False)
    return tokens


@functools.lru_cache(maxsize=TERMS_KEPT)
def terms(text: str) -> tuple[str, ...]:
    """``tokenize`` of one text, for code without a loaded index at hand (``Lexical.terms`` batches)."""
    return tuple(tokenize([text])[0])


def terms_of(texts: Sequence[str]) -> list[tuple[str, ...]]:
    """``terms`` of each text."""
    return [terms(t) for t in texts]


def build(texts: list[str], folder: Path) -> None:
    """Index ``texts`` (one per passage, in index order) and save the index in ``folder``."""
    import bm25s

    retriever = bm25s.BM25()
    tokens = tokenize(texts) if texts else []
    # bm25s cannot index an empty corpus; one empty document keeps the files uniform.
    retriever.index(tokens or [[""]], show_progress=False)
    retriever.save(str(folder))


class Lexical:
    """A loaded BM25 index: scores for every passage, and term weights for sentences."""

    def __init__(self, folder: Path) -> None:
        import bm25s

        # Memory-mapped: a question reads only its terms' postings, so the rest need not be resident.
        self._bm25 = bm25s.BM25.load(str(folder), mmap=True)
        n_docs = max(int(self._bm25.scores.get("num_docs", 1)), 1)
        indptr = np.asarray(self._bm25.scores["indptr"])
        df = np.diff(indptr)  # documents holding each term (CSC columns are terms)
        self._idf = {t: float(np.log(1 + (n_docs - df[i] + 0.5) / (df[i] + 0.5)))
                     for t, i in self._bm25.vocab_dict.items() if i < len(df)}
        self._unknown_idf = float(np.log(1 + (n_docs + 0.5) / 0.5))
        self._terms: dict[str, tuple[str, ...]] = {}

    def terms_of(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """``tokenize`` of each text, remembered: texts seen before cost nothing, new ones one bm25s call.

        Questions and the sentences of retrieved passages come back again and again; a ``bm25s.tokenize``
        call costs about 60 µs for one short text, plus about 8 µs for each further one.
        """
        found = {t: self._terms.get(t) for t in texts}
        missing = [t for t, v in found.items() if v is None]
        new = dict(zip(missing, map(tuple, tokenize(missing)))) if missing else {}
        if new:
            if len(self._terms) > TERMS_KEPT:
                self._terms.clear()
            self._terms.update(new)
        return [new[t] if t in new else found[t] or () for t in texts]

    def terms(self, text: str) -> tuple[str, ...]:
        """``tokenize`` of one text, remembered (see ``terms_of``)."""
        return self.terms_of([text])[0]

    def scores(self, query: str | Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for ``query``: a text, or its tokens (see ``terms``)."""
        tokens = [t for t in (self.terms(query) if isinstance(query, str) else query) if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    @property
    def unknown_idf(self) -> float:
        """The inverse document frequency of a token no passage contains."""
        return self._unknown_idf

    def known(self, token: str) -> bool:
        """Whether any passage contains ``token``."""
        return token in self._bm25.vocab_dict

    def idf(self, token: str) -> float:
        """Inverse document frequency of a token; rare and unseen tokens weigh most."""
        return self._idf.get(token, self._unknown_idf)

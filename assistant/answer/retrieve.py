"""Retrieval: dense (FAISS) and BM25 rankings of passages, fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import MODES, Settings
from ..errors import AssistantError, ConfigError
from ..index import lexical, store
from ..index.embed import Encoder, Encoders
from ..types import Hit, Passage, SourceInfo

__all__ = ["MODES", "Filters", "Retriever", "Scores", "rrf"]


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrict retrieval to some sources. Empty fields restrict nothing; dates are ISO, inclusive."""

    sources: tuple[str, ...] = ()
    publishers: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None


class Retriever:
    """A loaded index with its query encoder: load once, search many times."""

    def __init__(self, settings: Settings, snapshot: store.Snapshot, encoder: Encoder) -> None:
        store.check_model(snapshot.manifest, encoder.name, encoder.dim)
        self.settings = settings
        self.snapshot = snapshot
        self.encoder = encoder
        self.lexical = lexical.Lexical(snapshot.path / lexical.FOLDER)
        self.matrix = snapshot.dense_matrix()
        self.passages: list[Passage] = snapshot.passages
        self.sources = {sid: _info(sid, e) for sid, e in snapshot.manifest.sources.items()}
        self._source_of = np.array([p.source_id for p in self.passages], dtype=object)
        self._everything = np.ones(len(self.passages), dtype=bool)
        self.row_of = {p.id: i for i, p in enumerate(self.passages)}
        # Sentence vectors: the sentences of passage i are rows first_sentence[i]:first_sentence[i + 1].
        self.sentence_vectors = snapshot.sentence_vectors
        counts = [len(p.sentences) for p in self.passages]
        self.first_sentence = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.sentence_owner = np.repeat(np.arange(len(self.passages)), counts)

    @classmethod
    def open(cls, settings: Settings, encoders: Encoders) -> Retriever:
        """Load the live index and the query encoder that matches its backend.

        Raises:
            IndexMissingError, IndexCorruptError: no usable index, or one built by another model.
        """
        snapshot = store.load(settings)
        # Checked before loading the model, so a mismatch fails fast.
        store.check_model(snapshot.manifest, encoders.name)
        return cls(settings, snapshot, encoders.query(snapshot.manifest.model.backend))

    def encode(self, question: str) -> np.ndarray:
        """The question's vector (unit length)."""
        vector: np.ndarray = np.asarray(self.encoder.encode([question])[0], dtype=np.float32)
        return vector

    def score(self, question: str, filters: Filters | None = None, vector: np.ndarray | None = None) -> Scores:
        """Every passage's cosine to ``question`` and (when first asked for) its BM25 score, for ranking
        as often as needed without scoring again."""
        query = self.encode(question) if vector is None else vector
        similarity = self.matrix @ query if len(self.passages) else np.zeros(0, dtype=np.float32)
        return Scores(question, query, similarity, self.allowed(filters or Filters()), self.lexical)

    def search(self, question: str, k: int = 20, mode: str = "hybrid", filters: Filters | None = None,
               vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``.

        Args:
            question: Free text.
            k: How many passages to return.
            mode: ``dense`` (cosine), ``bm25``, or ``hybrid`` (reciprocal rank fusion of both).
            filters: Sources to search in; default all.
            vector: The question's vector, when already encoded.

        Returns:
            Hits, best first.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        return self.rank(self.score(question, filters, vector), k, mode)

    def rank(self, scores: Scores, k: int, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best passages under ``scores`` by ``mode`` (see ``search``)."""
        allowed, similarity = scores.allowed, scores.similarity
        if mode == "dense":
            score = similarity.astype(np.float64)
        elif mode == "bm25":
            score = scores.bm25.astype(np.float64)
        else:
            score = rrf(similarity, scores.bm25, allowed, self.settings.rrf_k, self.settings.bm25_weight)
        if allowed is not self._everything:
            score = np.where(allowed, score, -np.inf)
        order = _top(score, min(k, int(allowed.sum())))
        return [Hit(self.passages[i], self.sources[self.passages[i].source_id], float(score[i]), float(similarity[i]))
                for i in order if mode != "bm25" or score[i] > 0]

    def lexical_search(self, text: str | Sequence[str], k: int = 10) -> list[Hit]:
        """The ``k`` best BM25 passages for ``text`` (or its tokens), without encoding it (``similarity`` is 0)."""
        score = self.lexical.scores(text)
        order = _top(score, k)
        return [Hit(self.passages[i], self.sources[self.passages[i].source_id], float(score[i]), 0.0)
                for i in order if score[i] > 0]

    def sentences(self, scores: Scores, n: int) -> np.ndarray:
        """Rows of the ``n`` sentences nearest the question of ``scores`` (in its allowed sources), best first."""
        if not len(self.sentence_vectors):
            return np.zeros(0, dtype=np.int64)
        score = (self.sentence_vectors @ scores.vector).astype(np.float64)
        allowed = scores.allowed
        if allowed is not self._everything:
            score = np.where(allowed[self.sentence_owner], score, -np.inf)
        rows = _top(score, min(n, len(score)))
        kept: np.ndarray = rows[np.isfinite(score[rows])]
        return kept

    def sentence_rows(self, passage: Passage) -> range:
        """The rows of ``passage``'s sentences in ``sentence_vectors``."""
        i = self.row_of[passage.id]
        return range(int(self.first_sentence[i]), int(self.first_sentence[i + 1]))

    def hit(self, row: int, scores: Scores) -> Hit:
        """Passage ``row`` as a hit scored by its cosine to the question of ``scores``."""
        p, similarity = self.passages[row], float(scores.similarity[row])
        return Hit(p, self.sources[p.source_id], similarity, similarity)

    def allowed(self, filters: Filters) -> np.ndarray:
        """Which passages ``filters`` let through (the same array object for no filters)."""
        if filters == Filters():
            return self._everything
        ok = [sid for sid, s in self.sources.items() if _passes(s, filters)]
        unknown = set(filters.sources) - set(self.sources)
        if unknown:
            raise AssistantError(f"no such source: {', '.join(sorted(unknown))}; see `assistant sources`")
        return np.isin(self._source_of, ok) if len(self._source_of) else np.zeros(0, dtype=bool)


class Scores:
    """One question's scores over every passage: cosine now, BM25 computed once when first needed."""

    def __init__(self, question: str, vector: np.ndarray, similarity: np.ndarray, allowed: np.ndarray,
                 lex: lexical.Lexical) -> None:
        self.question, self.vector, self.similarity, self.allowed = question, vector, similarity, allowed
        self._lexical = lex
        self._bm25: np.ndarray | None = None

    @property
    def bm25(self) -> np.ndarray:
        if self._bm25 is None:
            self._bm25 = self._lexical.scores(self.question)
        return self._bm25


def rrf(dense: np.ndarray, bm25: np.ndarray, allowed: np.ndarray, c: int, bm25_weight: float) -> np.ndarray:
    """Weighted reciprocal rank fusion: dense 1 / (c + rank) plus BM25 ``bm25_weight`` / (c + rank).

    Ranks count ``allowed`` passages only, and BM25 ranks only passages that share a term with the
    question; ties keep index order. Only the passages each ranking ranks are sorted.
    """
    fused = np.zeros(len(dense), dtype=np.float64)
    for weight, scores, mask in ((1.0, dense, allowed), (bm25_weight, bm25, allowed & (bm25 > 0))):
        ranked = np.flatnonzero(mask)
        order = ranked[np.argsort(-scores[ranked], kind="stable")]
        fused[order] += weight / (c + np.arange(1, len(order) + 1, dtype=np.float64))
    return fused


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties in index order; O(n) rather than a full sort."""
    if k >= len(score):
        return np.argsort(-score, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = score[np.argpartition(-score, k - 1)[k - 1]]
    above = np.flatnonzero(score > kth)
    chosen = np.concatenate([above, np.flatnonzero(score == kth)[: k - len(above)]])
    return chosen[np.lexsort((chosen, -score[chosen]))]


def _passes(source: SourceInfo, f: Filters) -> bool:
    if f.sources and source.id not in f.sources:
        return False
    if f.publishers and (source.publisher or "").casefold() not in {p.casefold() for p in f.publishers}:
        return False
    if (f.since or f.until) and not source.published:
        return False
    published = source.published or ""
    return not ((f.since and published < f.since) or (f.until and published > f.until))


def _info(sid: str, entry: store.SourceEntry) -> SourceInfo:
    return SourceInfo(sid, entry.path, entry.title, entry.publisher, entry.author, entry.published)

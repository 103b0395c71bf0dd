"""Retrieval: dense and BM25 candidates of a search backend (``index/search``), fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import MODES, Settings
from ..errors import AssistantError, ConfigError
from ..index import lexical, store
from ..index.embed import Encoder, Encoders
from ..index.passages import Passages
from ..index.search import Allowed, Candidates, Filters, SearchBackend, open_backend
from ..types import Hit, Passage, SourceInfo

__all__ = ["MODES", "Filters", "Retriever", "Scores", "rrf"]


class Retriever:
    """A loaded index with its query encoder and search backend: load once, search many times."""

    def __init__(self, settings: Settings, snapshot: store.Snapshot, encoder: Encoder,
                 previous: SearchBackend | None = None) -> None:
        store.check_model(snapshot.manifest, encoder.name, encoder.dim)
        self.settings = settings
        self.snapshot = snapshot
        self.encoder = encoder
        self.lexical = lexical.Lexical(snapshot.path / lexical.FOLDER)
        self.backend: SearchBackend = open_backend(settings, snapshot, self.lexical, previous)
        self.passages: Passages = snapshot.passages  # read by offset when needed, a few thousand kept
        self.sources = {sid: _info(sid, e) for sid, e in snapshot.manifest.sources.items()}
        # The sentences of passage i are rows first_sentence[i]:first_sentence[i + 1].
        self.first_sentence = snapshot.first_sentence
        self.sentence_owner = snapshot.sentence_owner()

    @classmethod
    def open(cls, settings: Settings, encoders: Encoders, previous: Retriever | None = None) -> Retriever:
        """Load the live index and the query encoder that matches its backend (``previous``, the retriever
        of an older generation, lends its search backend's connection).

        Raises:
            IndexMissingError, IndexCorruptError: no usable index, or one built by another model.
        """
        snapshot = store.load(settings)
        # Checked before loading the model, so a mismatch fails fast.
        store.check_model(snapshot.manifest, encoders.name)
        return cls(settings, snapshot, encoders.query(snapshot.manifest.model.backend),
                   previous.backend if previous is not None else None)

    def close(self) -> None:
        """Let go of the search backend (a Qdrant client and its folder lock)."""
        self.backend.close()

    def encode(self, question: str) -> np.ndarray:
        """The question's vector (unit length)."""
        vector: np.ndarray = np.asarray(self.encoder.encode([question])[0], dtype=np.float32)
        return vector

    def score(self, question: str, filters: Filters | None = None, vector: np.ndarray | None = None) -> Scores:
        """The question's candidates, searched when first needed and then ranked as often as needed."""
        query = self.encode(question) if vector is None else vector
        return Scores(question, query, self.allowed(filters or Filters()), self)

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
        return self.rank(self.score(question, filters, vector), k, mode)

    def rank(self, scores: Scores, k: int, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best passages under ``scores`` by ``mode`` (see ``search``).

        Raises:
            ConfigError: ``mode`` is none of MODES.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == "dense":
            found = scores.dense_top(k)
            similarity = found.scores
        else:
            found = scores.bm25_top(k) if mode == "bm25" else \
                rrf(scores.dense, scores.bm25, self.settings.rrf_k, self.settings.bm25_weight).head(k)
            similarity = scores.similarity(found.rows)
        return [self._hit(int(i), float(s), float(c)) for i, s, c in zip(found.rows, found.scores, similarity)]

    def _hit(self, row: int, score: float, similarity: float) -> Hit:
        p = self.passages[row]
        return Hit(p, self.sources[p.source_id], score, similarity)

    def lexical_search(self, text: str | Sequence[str], k: int = 10) -> list[Hit]:
        """The ``k`` best BM25 passages for ``text`` (or its tokens), without encoding it (``similarity`` is 0)."""
        found = self.backend.bm25(self.lexical.terms(text) if isinstance(text, str) else text, k)
        return [self._hit(int(i), float(s), 0.0) for i, s in zip(found.rows, found.scores)]

    def sentences(self, scores: Scores, n: int) -> np.ndarray:
        """Rows of the ``n`` sentences nearest the question of ``scores`` (in its allowed sources), best first."""
        near = np.union1d(scores.dense.rows, scores.bm25.rows)
        return self.backend.sentences(scores.vector, n, scores.allowed, near).rows

    def sentence_cosine(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """The cosine of sentences ``rows`` to ``vector``."""
        return self.backend.sentence_cosine(vector, np.asarray(rows, dtype=np.int64))

    def sentence_rows(self, passage: Passage) -> range:
        """The rows of ``passage``'s sentences."""
        i = self.passages.row(passage.id)
        return range(int(self.first_sentence[i]), int(self.first_sentence[i + 1]))

    def hits(self, rows: Sequence[int], scores: Scores) -> list[Hit]:
        """Passages ``rows`` as hits scored by their cosine to the question of ``scores`` (one backend call)."""
        similarity = scores.similarity(np.asarray(rows, dtype=np.int64)) if len(rows) else np.zeros(0)
        return [self._hit(int(row), float(s), float(s)) for row, s in zip(rows, similarity)]

    def allowed(self, filters: Filters) -> Allowed | None:
        """Which passages ``filters`` let through (None: every one)."""
        if filters == Filters():
            return None
        ok = [sid for sid, s in self.sources.items() if _passes(s, filters)]
        unknown = set(filters.sources) - set(self.sources)
        if unknown:
            raise AssistantError(f"no such source: {', '.join(sorted(unknown))}; see `assistant sources`")
        return Allowed(filters, self.passages.in_sources(ok))


class Scores:
    """One question's candidates: its dense and BM25 top ``settings.fusion_depth`` (default: the backend's
    depth), each searched once when first needed, and cosines of other passages on demand."""

    def __init__(self, question: str, vector: np.ndarray, allowed: Allowed | None, retriever: Retriever) -> None:
        self.question, self.vector, self.allowed = question, vector, allowed
        self._retriever = retriever
        self._depth = retriever.settings.fusion_depth or retriever.backend.depth
        self._dense: Candidates | None = None
        self._bm25: Candidates | None = None

    @property
    def dense(self) -> Candidates:
        """The nearest passages by cosine, best first."""
        if self._dense is None:
            self._dense = self._retriever.backend.dense(self.vector, self._depth, self.allowed)
        return self._dense

    @property
    def bm25(self) -> Candidates:
        """The passages with the highest BM25 scores (all > 0), best first."""
        if self._bm25 is None:
            self._bm25 = self._retriever.backend.bm25(self._retriever.lexical.terms(self.question), self._depth,
                                                      self.allowed)
        return self._bm25

    def dense_top(self, k: int) -> Candidates:
        """The ``k`` nearest passages (searched again only when ``k`` is over the depth)."""
        return self.dense.head(k) if k <= self._depth else self._retriever.backend.dense(self.vector, k, self.allowed)

    def bm25_top(self, k: int) -> Candidates:
        """The ``k`` best BM25 passages (searched again only when ``k`` is over the depth)."""
        if k <= self._depth:
            return self.bm25.head(k)
        return self._retriever.backend.bm25(self._retriever.lexical.terms(self.question), k, self.allowed)

    def similarity(self, rows: np.ndarray) -> np.ndarray:
        """The cosine of passages ``rows`` to the question."""
        return self._retriever.backend.cosine(self.vector, np.asarray(rows, dtype=np.int64))


def rrf(dense: Candidates, bm25: Candidates, c: int, bm25_weight: float) -> Candidates:
    """Weighted reciprocal rank fusion over the union of two candidate lists, best first (ties in row order).

    A passage scores 1 / (c + its dense rank) plus ``bm25_weight`` / (c + its BM25 rank), counting
    only the lists it is in. With lists that hold every allowed passage (BM25: every one sharing a
    term with the question) this is the fusion of the full rankings.
    """
    rows = np.union1d(dense.rows, bm25.rows)
    fused = np.zeros(len(rows), dtype=np.float64)
    for weight, ranked in ((1.0, dense.rows), (bm25_weight, bm25.rows)):
        fused[np.searchsorted(rows, ranked)] += weight / (c + np.arange(1, len(ranked) + 1, dtype=np.float64))
    order = np.lexsort((rows, -fused))
    return Candidates(rows[order], fused[order])


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

"""The embedded backend: FAISS for vectors and bm25s for BM25, in this process.

``flat`` + ``float32`` (the default) is exact: every passage's cosine comes from one matrix product
per question, so results are the same as scoring every passage. ``hnsw`` searches the graph, ``ivf``
the inverted lists nearest the question; both look for the nearest sentences only among the
sentences of the question's candidate passages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...config import Settings
from .. import lexical, store
from . import DEPTH, Allowed, Candidates, best
from .vectors import flat_view

EXACT_BELOW = 20_000  # a filter letting fewer passages through than this is searched exactly, over those


class Embedded:
    """FAISS (flat, HNSW or IVF, float32/float16/int8) + bm25s over one loaded generation."""

    def __init__(self, settings: Settings, snapshot: store.Snapshot, lex: lexical.Lexical) -> None:
        self.info = snapshot.manifest.search
        self.index: Any = snapshot.vectors
        self.lexical = lex
        self.sentence_vectors = snapshot.sentence_vectors
        self.ef_search = settings.ef_search
        self.nprobe = settings.nprobe
        self.first_sentence = snapshot.first_sentence  # counted once, when the generation was loaded
        self.sentence_owner = snapshot.sentence_owner()
        # Exact: the vectors as a matrix sharing FAISS's memory, and the last question's cosines.
        self.matrix = flat_view(self.index) if self.info == store.SearchInfo() else None
        self._last: tuple[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()
        self.depth = max(len(snapshot.passages), 1) if self.exact else DEPTH

    def close(self) -> None:
        """Nothing to let go of: the generation's files are read into memory or mapped."""

    @property
    def exact(self) -> bool:
        return self.matrix is not None or self.index.ntotal == 0

    def _all_cosines(self, vector: np.ndarray) -> np.ndarray:
        """Every passage's cosine to ``vector``, from one product (remembered for the same vector).

        Why one product and not one per call: BLAS rounds a row's dot product differently with its
        position in the block, and the exact backend's cosines must not depend on which rows were asked.
        """
        if self.matrix is None:
            return np.zeros(0, dtype=np.float32)
        key = vector.tobytes()
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        cosines: np.ndarray = self.matrix @ vector
        with self._lock:
            self._last = (key, cosines)
        return cosines

    def dense(self, vector: np.ndarray, k: int, allowed: Allowed | None = None) -> Candidates:
        if self.exact:
            return best(self._all_cosines(vector), k, None if allowed is None else allowed.mask)
        mask = None if allowed is None else allowed.mask
        if mask is not None and int(mask.sum()) < EXACT_BELOW:
            rows = np.flatnonzero(mask)
            found = best(self.cosine(vector, rows), k)
            return Candidates(rows[found.rows], found.scores)
        return self._graph(vector, k, mask)

    def _graph(self, vector: np.ndarray, k: int, mask: np.ndarray | None) -> Candidates:
        import faiss

        k = min(k, self.index.ntotal)
        params: Any = faiss.SearchParameters()
        if self.info.dense == "hnsw":
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(self.ef_search, k)
        elif self.info.dense == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = self._lists_read(k, self.index.ntotal if mask is None else int(mask.sum()))
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        scores, ids = self.index.search(vector[None, :].astype(np.float32), k, params=params)
        keep = ids[0] >= 0
        return Candidates(ids[0][keep].astype(np.int64), scores[0][keep])

    def _lists_read(self, k: int, allowed: int) -> int:
        """IVF lists to read: ``nprobe``, or enough to hold about 2·``k`` allowed passages if more
        (a deep list, or a filter letting a few passages in each list through, needs more lists)."""
        lists = int(self.index.nlist)
        per_list = max(allowed, 1) / lists
        return min(lists, max(self.nprobe, math.ceil(2 * k / per_list)))

    def bm25(self, tokens: Sequence[str], k: int, allowed: Allowed | None = None) -> Candidates:
        score: np.ndarray = self.lexical.scores(tokens)
        mask = None if allowed is None else allowed.mask
        positive = score > 0
        if mask is None and int(positive.sum()) * 4 < len(score):
            # Most passages share no term with the question: rank only those that do.
            rows = np.flatnonzero(positive)
            found = best(score[rows], k)
            return Candidates(rows[found.rows], found.scores)
        return best(np.asarray(score), k, mask, positive=True)

    def cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.matrix is not None:
            chosen: np.ndarray = self._all_cosines(vector)[rows]
            return chosen
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        block = np.asarray(self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)
        out: np.ndarray = block @ vector
        return out

    def sentences(self, vector: np.ndarray, k: int, allowed: Allowed | None = None,
                  near: np.ndarray | None = None) -> Candidates:
        if not len(self.sentence_vectors):
            return Candidates.empty()
        if self.info.dense != "flat" and near is not None:
            passages = np.sort(near if allowed is None else near[allowed.mask[near]])
            starts = self.first_sentence[passages]
            counts = self.first_sentence[passages + 1] - starts  # not np.diff of all: 13 ms at 5M passages
            # Each passage's sentence rows, start to end, one after the other.
            rows = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
            found = best(self.sentence_cosine(vector, rows).astype(np.float64), k)
            return Candidates(rows[found.rows], found.scores)
        score = self._all_sentence_cosines(vector).astype(np.float64)
        found = best(score, k, None if allowed is None else allowed.mask[self.sentence_owner])
        keep = np.isfinite(found.scores)
        return Candidates(found.rows[keep], found.scores[keep])

    def _all_sentence_cosines(self, vector: np.ndarray) -> np.ndarray:
        if self.sentence_vectors.matrix.dtype == np.float32:
            full: np.ndarray = self.sentence_vectors.matrix @ vector
            return full
        step = 1 << 16  # decoded in blocks: a float32 copy of every sentence would double the memory
        return np.concatenate([self.sentence_vectors.rows(slice(i, i + step)) @ vector
                               for i in range(0, len(self.sentence_vectors), step)])

    def sentence_cosine(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        out: np.ndarray = self.sentence_vectors.rows(np.asarray(rows)) @ vector
        return out

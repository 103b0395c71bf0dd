"""The next generation of the index, grown a batch of articles at a time and committed as it grows."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..config import Settings
from ..types import Passage
from . import store
from .store import ChunkerInfo, Manifest, ModelInfo, SourceEntry

# A commit rewrites the whole generation; waiting this many times as long as the last write took
# before the next one keeps those rewrites to 5% of the run, however large the index grows.
WORK_PER_WRITE = 20


@dataclass(frozen=True, slots=True)
class Piece:
    """One article as indexed: its entry, passages, their vectors and their sentences' vectors."""

    entry: SourceEntry
    passages: Sequence[Passage]
    vectors: np.ndarray  # (passages, dim)
    sentences: np.ndarray  # (sentences of all its passages, dim), passage by passage


class Generation:
    """The articles the next generation will hold; ``commit`` writes them all as a new live generation.

    Articles are written in id order, whatever order they were put in, so a run that was
    interrupted and resumed writes the same index as one that was not.
    """

    def __init__(self, settings: Settings, model: ModelInfo, chunker: ChunkerInfo) -> None:
        self.settings, self.model, self.chunker = settings, model, chunker
        self.pieces: dict[str, Piece] = {}

    def put(self, sid: str, piece: Piece) -> None:
        self.pieces[sid] = piece

    def passages(self) -> int:
        return sum(len(p.passages) for p in self.pieces.values())

    def commit(self) -> Path:
        """Write every article put so far as a new generation and make it live; returns its folder."""
        order = sorted(self.pieces)
        pieces = [self.pieces[sid] for sid in order]
        manifest = Manifest(model=self.model, chunker=self.chunker,
                            built=datetime.now(UTC).isoformat(timespec="seconds"),
                            sources={sid: piece.entry for sid, piece in zip(order, pieces, strict=True)})
        # Blocks, not one joined matrix: the vectors are held once, not twice, while they are written.
        return store.write_index(self.settings, manifest, [p for piece in pieces for p in piece.passages],
                                 [piece.vectors for piece in pieces], [piece.sentences for piece in pieces])


class Pace:
    """When to commit: ``every`` seconds after the last commit, and after ``WORK_PER_WRITE`` times as long
    as that commit took to write (``every`` 0: at every batch)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._since = time.monotonic()
        self._write = 0.0

    def due(self) -> bool:
        if self.every <= 0:
            return True
        return time.monotonic() - self._since >= max(self.every, WORK_PER_WRITE * self._write)

    def commit(self, generation: Generation) -> Path:
        start = time.monotonic()
        path = generation.commit()
        self._since = time.monotonic()
        self._write = self._since - start
        return path


class OldIndex:
    """The previous generation, looked up by source and by passage text.

    Args:
        snapshot: The live generation, or None.
        same_vectors: Whether its vectors may be reused for passages of the same text (False when
            another backend made them).
    """

    def __init__(self, snapshot: store.Snapshot | None, same_vectors: bool = True) -> None:
        self.entries: dict[str, SourceEntry] = dict(snapshot.manifest.sources) if snapshot else {}
        # Decoded whole: every unchanged article's passages go into the next generation as they are.
        self._passages: list[Passage] = list(snapshot.passages) if snapshot else []
        self._matrix = snapshot.dense_matrix() if snapshot else np.empty((0, 0), dtype=np.float32)
        self._sentences = snapshot.sentence_vectors if snapshot else np.empty((0, 0), dtype=np.float32)
        self._first = np.cumsum([0] + [len(p.sentences) for p in self._passages])
        self._by_text = {p.text: i for i, p in enumerate(self._passages)} if same_vectors else {}
        self._rows: dict[str, list[int]] = {}
        for i, p in enumerate(self._passages):
            self._rows.setdefault(p.source_id, []).append(i)

    def piece(self, sid: str) -> Piece:
        """The article as indexed (views into the old matrices: nothing is copied)."""
        rows = self._rows.get(sid, [])
        if not rows or rows[-1] - rows[0] + 1 == len(rows):  # as every generation is written: article by article
            first, last = (rows[0], rows[-1] + 1) if rows else (0, 0)
            return Piece(self.entries[sid], self._passages[first:last], self._matrix[first:last],
                         self._sentences[self._first[first] : self._first[last]])
        blocks = [self._block(i) for i in rows]
        return Piece(self.entries[sid], [self._passages[i] for i in rows], self._matrix[rows], np.vstack(blocks))

    def vectors_for(self, text: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The vector of an indexed passage with this text, and its sentences' vectors."""
        i = self._by_text.get(text)
        return (None, None) if i is None else (self._matrix[i], self._block(i))

    def _block(self, i: int) -> np.ndarray:
        return self._sentences[self._first[i] : self._first[i + 1]]


def batches(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``ids`` in consecutive runs of ``size``."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]

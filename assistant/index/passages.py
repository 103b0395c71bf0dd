"""A generation's passages held by their byte offsets in ``passages.jsonl`` and read when needed.

A million ``Passage`` objects take about 900 MB; their offsets, checksums, sources and sentence
counts take under 40 MB. The file is read once at load (its sha256 checked against the manifest),
then each passage is read again by offset when it is asked for, its line checked against the CRC-32
taken at load: a file changed after load raises instead of giving another passage's text.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..errors import IndexCorruptError
from ..types import Passage

PASSAGES = "passages.jsonl"
REBUILD = "run `assistant index --rebuild`"
CACHED = 4096  # decoded passages kept: the few hundred an answer reads, and the next questions' repeats
_BLOCK = 1 << 20  # bytes read at a time when passages are read in order


class Passages(Sequence[Passage]):
    """``Sequence[Passage]`` over a generation's ``passages.jsonl``; use :func:`open_passages`."""

    def __init__(self, fd: int, offsets: np.ndarray, crcs: np.ndarray, source_row: np.ndarray,
                 source_ids: tuple[str, ...], first_sentence: np.ndarray, id_hashes: np.ndarray) -> None:
        self._fd = fd  # kept open: the generation's folder may be removed while this is still read
        weakref.finalize(self, os.close, fd)
        self._offsets, self._crcs = offsets, crcs  # line i is bytes offsets[i]:offsets[i + 1]
        self.source_row = source_row  # passage row -> position of its source in source_ids
        self.source_ids = source_ids
        self.first_sentence = first_sentence  # the sentences of passage i: rows first[i]:first[i + 1]
        # Rows by the hash of their passage id, sorted: finds a row by id without a dict of a million strings.
        self._id_rows = np.argsort(id_hashes, kind="stable")
        self._id_hashes = id_hashes[self._id_rows]
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._crcs)

    @overload
    def __getitem__(self, key: int) -> Passage: ...

    @overload
    def __getitem__(self, key: slice) -> list[Passage]: ...

    def __getitem__(self, key: int | slice) -> Passage | list[Passage]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            return self._range(start, stop) if step == 1 else [self[i] for i in range(start, stop, step)]
        row = int(key) + (len(self) if key < 0 else 0)
        if not 0 <= row < len(self):
            raise IndexError("passage row out of range")
        with self._lock:
            cached = self._cache.get(row)
            if cached is not None:
                self._cache.move_to_end(row)
                return cached
        passage = self._range(row, row + 1)[0]
        with self._lock:
            self._cache[row] = passage
            if len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        return passage

    def __iter__(self) -> Iterator[Passage]:
        """Every passage in order, read a block at a time (not through the cache)."""
        row = 0
        while row < len(self):
            end = int(np.searchsorted(self._offsets, self._offsets[row] + _BLOCK, side="right")) - 1
            end = min(max(end, row + 1), len(self))
            yield from self._range(row, end)
            row = end

    def row(self, passage_id: str) -> int:
        """The row of the passage with this id.

        Raises:
            KeyError: no passage has it.
        """
        key = hash(passage_id)
        at = int(np.searchsorted(self._id_hashes, key))
        while at < len(self._id_hashes) and self._id_hashes[at] == key:
            row = int(self._id_rows[at])
            if self[row].id == passage_id:
                return row
            at += 1
        raise KeyError(passage_id)

    def in_sources(self, source_ids: Collection[str]) -> np.ndarray:
        """Which passages (a boolean mask over rows) belong to one of ``source_ids``."""
        chosen = set(source_ids)
        wanted = np.array([sid in chosen for sid in self.source_ids], dtype=bool)
        return wanted[self.source_row] if len(wanted) else np.zeros(len(self), dtype=bool)

    def _range(self, start: int, stop: int) -> list[Passage]:
        """Passages ``start:stop``, read in one go and each line checked against its CRC-32."""
        if start >= stop:
            return []
        first = int(self._offsets[start])
        data = os.pread(self._fd, int(self._offsets[stop]) - first, first)
        out = []
        for row in range(start, stop):
            line = data[int(self._offsets[row]) - first : int(self._offsets[row + 1]) - first]
            if zlib.crc32(line) != int(self._crcs[row]):
                raise IndexCorruptError(f"index file {PASSAGES} changed after it was loaded; {REBUILD}")
            out.append(decode(line))
        return out


def decode(line: bytes | str) -> Passage:
    """One line of ``passages.jsonl`` as a Passage.

    Raises:
        IndexCorruptError: not a passage.
    """
    try:
        row: dict[str, Any] = json.loads(line)
        row["sentences"] = tuple((int(a), int(b)) for a, b in row["sentences"])
        return Passage(**row)
    except (ValueError, TypeError, KeyError):
        raise IndexCorruptError(f"index file {PASSAGES} is unreadable; {REBUILD}") from None


def open_passages(path: Path, sources: Mapping[str, object], size: int | None = None,
                  sha256: str | None = None) -> Passages:
    """Read ``passages.jsonl`` once: check it, and keep each passage's offset, source and sentence count.

    Args:
        path: The file.
        sources: The manifest's sources, in order (a passage of another source is added after them).
        size: Its size in bytes, as the manifest records it (None: not checked).
        sha256: Its SHA-256, likewise.

    Raises:
        IndexCorruptError: the file is missing, of another size, its bytes changed, or a line is no passage.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        raise IndexCorruptError(f"index file {PASSAGES} is missing or unreadable; {REBUILD}") from None
    try:
        if size is not None and os.fstat(fd).st_size != size:  # the cheap test first
            raise IndexCorruptError(f"index file {PASSAGES} is missing or truncated; {REBUILD}")
        return _scan(fd, {sid: i for i, sid in enumerate(sources)}, sha256)
    except BaseException:
        os.close(fd)
        raise


def _scan(fd: int, codes: dict[str, int], sha256: str | None) -> Passages:
    digest = hashlib.sha256()
    offsets, crcs, source_row, sentences = array("q", [0]), array("I"), array("i"), array("q", [0])
    ids = array("q")  # hash of each passage id
    damaged = False
    with os.fdopen(os.dup(fd), "rb") as lines:
        for line in lines:
            digest.update(line)
            offsets.append(offsets[-1] + len(line))
            if damaged:  # still hashed: a changed file is reported as changed, not as unreadable
                continue
            try:
                p = decode(line)
            except IndexCorruptError:
                damaged = True
                continue
            crcs.append(zlib.crc32(line))
            source_row.append(codes.setdefault(p.source_id, len(codes)))
            sentences.append(sentences[-1] + len(p.sentences))
            ids.append(hash(p.id))
    if sha256 is not None and digest.hexdigest() != sha256:
        raise IndexCorruptError(f"index file {PASSAGES} does not match its checksum; {REBUILD}")
    if damaged:
        raise IndexCorruptError(f"index file {PASSAGES} is unreadable; {REBUILD}")
    return Passages(fd, np.frombuffer(offsets, dtype=np.int64), np.frombuffer(crcs, dtype=np.uint32),
                    np.frombuffer(source_row, dtype=np.int32), tuple(codes), np.frombuffer(sentences, dtype=np.int64),
                    np.frombuffer(ids, dtype=np.int64))

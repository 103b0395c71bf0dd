"""Vectors on disk: the passages' FAISS index and the sentences' matrix, exact or approximate, full or compact.

``flat`` + ``float32`` is a ``faiss.IndexFlatIP`` (exact). ``hnsw`` is a ``faiss.IndexHNSWFlat`` (or
``IndexHNSWSQ``): a graph searched in about log(n) steps instead of n. ``ivf`` is a
``faiss.IndexIVFFlat`` (or ``IndexIVFScalarQuantizer``): about 4·√n lists of the vectors nearest a
centroid (k-means on a sample), of which a search reads the ``nprobe`` nearest the question. ``float16`` and ``int8`` store
each vector in 2 or 1 bytes a dimension (FAISS scalar quantisers; int8 ranges per dimension, fitted on
at most ``TRAIN_ROWS`` vectors). Sentences are a ``.npy`` matrix of the same format; an int8 one keeps
each row's scale in ``sentence_scales.npy`` (unit vectors: the largest component maps to 127).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import IndexCorruptError
from ..passages import REBUILD

EF_CONSTRUCTION = 80  # candidates kept while the graph is built (faiss default 40: lower recall)
TRAIN_ROWS = 200_000  # vectors an int8 quantiser's ranges are fitted on
PER_LIST = 40  # training vectors per IVF list (FAISS warns under 39)
BLOCK = 100_000  # rows converted to float32 and added at a time
SENTENCE_SCALES = "sentence_scales.npy"


def _quantiser(vectors: str) -> Any:
    import faiss

    return {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}[vectors]


def ivf_lists(n: int) -> int:
    """IVF lists for ``n`` vectors: about 4·√n, with at least ``PER_LIST`` vectors to train each."""
    return max(1, min(round(4 * math.sqrt(n)), n // PER_LIST))


def build_index(rows: np.ndarray | Sequence[np.ndarray], dense: str, vectors: str, hnsw_m: int) -> Any:
    """A FAISS inner-product index over unit ``rows`` of the kind ``dense`` / ``vectors`` name.

    ``rows`` is one matrix or consecutive blocks of it (e.g. memory-mapped): each block is read
    once for a training sample and once to be added, so no float32 copy of all rows is made.
    """
    blocks = row_blocks(rows)
    dim = int(blocks[0].shape[1]) if blocks else int(np.shape(rows)[-1])
    n = sum(len(b) for b in blocks)
    index = _empty(dim, dense, vectors, hnsw_m, n)
    if n and not index.is_trained:
        index.train(_sample(blocks, n, PER_LIST * index.nlist if dense == "ivf" else TRAIN_ROWS))
    for block in blocks:
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    if dense == "ivf":
        index.make_direct_map()  # cosines of chosen passages are read back by row (reconstruct)
    return index


def _empty(dim: int, dense: str, vectors: str, hnsw_m: int, n: int) -> Any:
    import faiss

    ip = faiss.METRIC_INNER_PRODUCT
    index: Any
    if dense == "hnsw":
        index = (faiss.IndexHNSWFlat(dim, hnsw_m, ip) if vectors == "float32"
                 else faiss.IndexHNSWSQ(dim, _quantiser(vectors), hnsw_m, ip))
        index.hnsw.efConstruction = EF_CONSTRUCTION
    elif dense == "ivf":
        lists = ivf_lists(n)
        index = (faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, ip) if vectors == "float32"
                 else faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, lists, _quantiser(vectors), ip))
    else:
        index = faiss.IndexFlatIP(dim) if vectors == "float32" else faiss.IndexScalarQuantizer(dim, _quantiser(vectors), ip)
    return index


def row_blocks(rows: np.ndarray | Sequence[np.ndarray], dim: int | None = None) -> list[np.ndarray]:
    """Non-empty blocks of at most ``BLOCK`` rows (views: nothing is copied here), each first shaped
    ``(n, dim)`` when ``dim`` is given."""
    blocks = [rows] if isinstance(rows, np.ndarray) else list(rows)
    shaped = blocks if dim is None else [b.reshape(-1, dim) for b in blocks]
    return [b[i : i + BLOCK] for b in shaped for i in range(0, len(b), BLOCK)]


def _sample(blocks: list[np.ndarray], n: int, rows: int) -> np.ndarray:
    """Every ``n // rows``-th row across the blocks, as float32."""
    step, start, picked = max(1, n // rows), 0, []
    for block in blocks:
        picked.append(np.asarray(block[(-start) % step :: step], dtype=np.float32))
        start += len(block)
    return np.ascontiguousarray(np.concatenate(picked))


def flat_view(index: Any) -> np.ndarray | None:
    """The float32 vectors of an ``IndexFlatIP`` as an ``(n, dim)`` array sharing its memory, else None."""
    import faiss

    if not isinstance(index, faiss.IndexFlat) or index.ntotal == 0:
        return None
    view: np.ndarray = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    return view


def save_sentences(folder: Path, name: str, rows: np.ndarray | Sequence[np.ndarray], vectors: str, dim: int) -> None:
    """Write the sentence vectors as ``name`` (and their scales, for int8) in ``folder``, block by block.

    ``rows`` is one matrix or consecutive blocks of it; each block is converted and written in turn, so
    memory holds one block, not all the sentences.
    """
    blocks = row_blocks(rows, dim)
    dtype = {"float32": np.float32, "float16": np.float16, "int8": np.int8}[vectors]
    count = sum(len(b) for b in blocks)
    with open(folder / name, "wb") as out, contextlib.ExitStack() as stack:
        _header(out, dtype, (count, dim))
        scales = stack.enter_context(open(folder / SENTENCE_SCALES, "wb")) if vectors == "int8" else None
        if scales is not None:
            _header(scales, np.float32, (count,))
        for block in blocks:
            data = np.ascontiguousarray(block, dtype=np.float32)
            if scales is not None:  # unit rows: each row's largest component maps to 127
                scale = np.maximum(np.abs(data).max(axis=1), 1e-12).astype(np.float32) / 127
                scale.tofile(scales)
                data = np.rint(data / scale[:, None])
            data.astype(dtype).tofile(out)


def _header(out: Any, dtype: Any, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": shape})


class Sentences:
    """Sentence vectors kept on disk (memory-mapped) and decoded by rows: only the rows read are in memory."""

    def __init__(self, folder: Path, name: str, vectors: str) -> None:
        self.matrix = _load(folder / name, {"float32": np.float32, "float16": np.float16, "int8": np.int8}[vectors])
        self.scales = _load(folder / SENTENCE_SCALES, np.float32) if vectors == "int8" else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.matrix.shape)

    def __len__(self) -> int:
        return len(self.matrix)

    def rows(self, rows: np.ndarray | slice) -> np.ndarray:
        """The float32 vectors of ``rows``."""
        block = np.asarray(self.matrix[rows], dtype=np.float32)
        if self.scales is not None:
            block *= self.scales[rows][:, None]
        return block

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.rows(rows)

    def all(self) -> np.ndarray:
        """Every vector as float32 (a copy unless they are stored as float32)."""
        return self.rows(slice(None))


def _load(path: Path, dtype: Any) -> np.ndarray:
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        raise IndexCorruptError(f"index file {path.name} is unreadable; {REBUILD}") from None
    if matrix.ndim not in (1, 2) or matrix.dtype != dtype:
        raise IndexCorruptError(f"index file {path.name} is not a {np.dtype(dtype).name} matrix; {REBUILD}")
    return np.asarray(matrix) if matrix.ndim == 1 else matrix

"""Vectors on disk: the passages' FAISS index and the sentences' matrix, exact or approximate, full or compact.

``flat`` + ``float32`` is a ``faiss.IndexFlatIP`` (exact). ``hnsw`` is a ``faiss.IndexHNSWFlat`` (or
``IndexHNSWSQ``): a graph searched in about log(n) steps instead of n. ``float16`` and ``int8`` store
each vector in 2 or 1 bytes a dimension (FAISS scalar quantisers; int8 ranges per dimension, fitted on
at most ``TRAIN_ROWS`` vectors). Sentences are a ``.npy`` matrix of the same format; an int8 one keeps
each row's scale in ``sentence_scales.npy`` (unit vectors: the largest component maps to 127).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import IndexCorruptError

EF_CONSTRUCTION = 80  # candidates kept while the graph is built (faiss default 40: lower recall)
TRAIN_ROWS = 200_000  # vectors an int8 quantiser's ranges are fitted on
SENTENCE_SCALES = "sentence_scales.npy"
_REBUILD = "run `assistant index --rebuild`"


def _quantiser(vectors: str) -> Any:
    import faiss

    return {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}[vectors]


def build_index(matrix: np.ndarray, dense: str, vectors: str, hnsw_m: int) -> Any:
    """A FAISS inner-product index over ``matrix`` (unit rows) of the kind ``dense`` / ``vectors`` name."""
    import faiss

    dim = int(matrix.shape[1])
    ip = faiss.METRIC_INNER_PRODUCT
    index: Any
    if dense == "hnsw":
        index = (faiss.IndexHNSWFlat(dim, hnsw_m, ip) if vectors == "float32"
                 else faiss.IndexHNSWSQ(dim, _quantiser(vectors), hnsw_m, ip))
        index.hnsw.efConstruction = EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dim) if vectors == "float32" else faiss.IndexScalarQuantizer(dim, _quantiser(vectors), ip)
    if len(matrix):
        data = np.ascontiguousarray(matrix, dtype=np.float32)
        if not index.is_trained:
            step = max(1, len(data) // TRAIN_ROWS)
            index.train(data[::step])
        index.add(data)
    return index


def flat_view(index: Any) -> np.ndarray | None:
    """The float32 vectors of an ``IndexFlatIP`` as an ``(n, dim)`` array sharing its memory, else None."""
    import faiss

    if not isinstance(index, faiss.IndexFlat) or index.ntotal == 0:
        return None
    view: np.ndarray = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    return view


def save_sentences(folder: Path, name: str, matrix: np.ndarray, vectors: str, dim: int) -> None:
    """Write the sentence vectors as ``name`` (and their scales, for int8) in ``folder``."""
    data = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1, dim)
    if vectors == "int8":
        scales = np.maximum(np.abs(data).max(axis=1), 1e-12).astype(np.float32) / 127
        _save(folder / SENTENCE_SCALES, scales)
        data = np.rint(data / scales[:, None]).astype(np.int8)
    elif vectors == "float16":
        data = data.astype(np.float16)
    _save(folder / name, data)


def _save(path: Path, data: np.ndarray) -> None:
    with open(path, "wb") as out:
        np.save(out, data, allow_pickle=False)


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
        raise IndexCorruptError(f"index file {path.name} is unreadable; {_REBUILD}") from None
    if matrix.ndim not in (1, 2) or matrix.dtype != dtype:
        raise IndexCorruptError(f"index file {path.name} is not a {np.dtype(dtype).name} matrix; {_REBUILD}")
    return np.asarray(matrix) if matrix.ndim == 1 else matrix

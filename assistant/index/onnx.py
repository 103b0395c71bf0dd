"""Encoders without torch: the same sentence-transformers model exported to ONNX, fp32 and int8.

Importing torch alone takes seconds, so `assistant ask` encodes questions with onnxruntime and
the model's own ``tokenizer.json``. The export is made once, at index time, and kept in
``index/model/`` only if it matches the torch embeddings (cosine >= ``MIN_COSINE`` on probe
texts). Beside it goes an int8 copy: the weights of every matrix product quantised per output
channel by onnxruntime's dynamic quantisation, kept if within ``MIN_INT8_COSINE``. The int8
copy embeds passages and questions by default (``Settings.backend``): 1.8 times as fast as
torch on these CPUs, within 0.3 points of it on SciFact (see ``benchmarks/backends.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "model"
MIN_COSINE = 0.999
MIN_INT8_COSINE = 0.95  # a check that it is the same model; quality is measured in benchmarks/backends.py
PROBES = (
    "How many referrals did children's services receive in 2019-20?",
    "Children’s social care – a “30-year-old tower of Jenga held together with Sellotape”.",
    "Who?",
    "The review said the system investigates too readily whilst not doing enough to support families, " * 12,
)


def paths(index_dir: Path, name: str) -> tuple[Path, Path]:
    """The ONNX file and its metadata for model ``name``."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return index_dir / FOLDER / f"{stem}.onnx", index_dir / FOLDER / f"{stem}.json"


def int8_path(index_dir: Path, name: str) -> Path:
    """The int8 copy of the ONNX file for model ``name``."""
    return paths(index_dir, name)[0].with_suffix(".int8.onnx")


def export(model: Any, name: str, model_dir: Path, index_dir: Path) -> float:
    """Export a loaded SentenceTransformer (mean pooling, normalised) to ONNX beside the index.

    Returns:
        The smallest cosine between ONNX and torch embeddings of the probe texts.

    Raises:
        RuntimeError: the export disagrees with torch (nothing is kept then).
    """
    import torch

    onnx_path, meta_path = paths(index_dir, name)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        ids = torch.ones((2, 8), dtype=torch.long)
        axes = {k: {0: "batch", 1: "tokens"} for k in ("input_ids", "attention_mask", "token_type_ids")}
        with warnings.catch_warnings():  # tracer notes about constants; the probe check below is what counts
            warnings.simplefilter("ignore")
            torch.onnx.export(_Pooled(model[0].auto_model).eval(), (ids, ids, torch.zeros_like(ids)), tmp,
                              input_names=list(axes), output_names=["embedding"],
                              dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
        encoder = OnnxEncoder(name, Path(tmp), model_dir, model.get_max_seq_length() or 512)
        ours = encoder.encode(PROBES)
        theirs = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        cosine = float(np.min(np.sum(ours * theirs, axis=1)))
        if cosine < MIN_COSINE:
            raise RuntimeError(f"the ONNX export of {name} disagrees with torch (cosine {cosine:.4f})")
        int8_cosine = _quantize(Path(tmp), Path(tmp + ".int8"), name, model_dir, encoder.max_tokens, theirs)
        if int8_cosine >= MIN_INT8_COSINE:
            os.replace(tmp + ".int8", int8_path(index_dir, name))
        os.replace(tmp, onnx_path)
        meta = {"model": name, "model_dir": str(model_dir), "dim": encoder.dim, "max_tokens": encoder.max_tokens,
                "min_cosine": round(cosine, 6), "int8": int8_cosine >= MIN_INT8_COSINE,
                "int8_min_cosine": round(int8_cosine, 6)}
        meta_path.write_text(json.dumps(meta) + "\n", encoding="utf-8")
        return cosine
    finally:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + ".int8").unlink(missing_ok=True)


def _quantize(fp32: Path, out: Path, name: str, model_dir: Path, max_tokens: int, reference: np.ndarray) -> float:
    """Write the int8 copy of ``fp32``; returns its smallest cosine to ``reference`` on the probes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_onnxruntime():
        quantize_dynamic(fp32, out, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    ours = OnnxEncoder(name, out, model_dir, max_tokens).encode(PROBES)
    return float(np.min(np.sum(ours * reference, axis=1)))


class _FromOnnxruntime(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}onnxruntime{os.sep}" not in record.pathname


@contextlib.contextmanager
def _quiet_onnxruntime() -> Iterator[None]:
    """Drop onnxruntime's advice on pre-processing while quantising, and nothing else.

    The quantiser logs through the root logger itself (``logging.warning``), so the level of
    the ``onnxruntime`` logger does not reach it: a filter on the root logger drops records
    whose code lies in onnxruntime, for this call only. A root logger without handlers gets a
    ``NullHandler`` meanwhile, or ``logging.warning`` would install a stderr handler for good
    (after which bm25s's debug lines would print too).
    """
    root, quiet, spare = logging.getLogger(), _FromOnnxruntime(), logging.NullHandler()
    root.addFilter(quiet)
    if not root.handlers:
        root.addHandler(spare)
    try:
        yield
    finally:
        root.removeFilter(quiet)
        root.removeHandler(spare)


def exported(name: str, index_dir: Path) -> dict[str, Any] | None:
    """The export's metadata when the index has an export of ``name`` (cheap: nothing is loaded)."""
    onnx_path, meta_path = paths(index_dir, name)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("model") == name and onnx_path.is_file() else None


def load(name: str, index_dir: Path, int8: bool = False) -> OnnxEncoder | None:
    """The exported encoder for ``name`` (its int8 copy if ``int8``), or None when there is none."""
    meta = exported(name, index_dir)
    if meta is None or (int8 and not meta.get("int8")):
        return None
    path = int8_path(index_dir, name) if int8 else paths(index_dir, name)[0]
    try:
        return OnnxEncoder(name, path, Path(meta["model_dir"]), int(meta["max_tokens"]))
    except (OSError, ValueError, KeyError, ImportError):
        return None


class OnnxEncoder:
    """Tokenise with ``tokenizer.json``, run the exported graph: normalised sentence embeddings.

    ``threads``: threads of one encode (0, the default: onnxruntime's choice, one per core).
    """

    def __init__(self, name: str, onnx_path: Path, model_dir: Path, max_tokens: int, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.name, self.max_tokens = name, max_tokens
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, one per core
        # Idle threads would spin for a while after each run and starve numpy's own threads, which
        # score the passages next: 5.4 ms for one encode and one 4,000-passage product, 2.3 without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.dim = int(self._session.get_outputs()[0].shape[1] or self.encode(["probe"]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        batch = self._tokenizer.encode_batch(list(texts))
        feed = {"input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64)}
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)


def _pooled_module() -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """The transformer with mean pooling over real tokens and L2 normalisation, as one graph."""

        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return Pooled


def _Pooled(transformer: Any) -> Any:  # noqa: N802 - builds the torch module lazily
    return _pooled_module()(transformer)

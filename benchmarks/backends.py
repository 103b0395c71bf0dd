"""Embedding backends side by side: speed and retrieval quality of torch fp32, ONNX fp32 and ONNX int8.

Run:  .venv/bin/python benchmarks/backends.py [--sample 500]

Each backend embeds the whole SciFact corpus (../shared/benchmarks/scifact) in our BEIR evaluation
(`assistant eval --beir`, dense and hybrid) and the five seed articles for the gold set
(`assistant eval`), encoding both passages and questions itself:

- ``torch``: sentence-transformers on torch, fp32 (what `assistant index` uses);
- ``onnx``: the same model exported to ONNX (``assistant._onnx``, what `assistant ask` encodes
  questions with), fp32, run by onnxruntime;
- ``onnx-int8``: that export with the weights of its matrix products quantised to int8 per output
  channel by onnxruntime's dynamic quantisation (activations are quantised on the fly): the
  index's own int8 copy, the default backend;
- ``onnx-int8-tensor``: the same with one scale per weight tensor, as the ``avx512_vnni`` preset
  that sentence-transformers' ``export_dynamic_quantized_onnx_model`` passes to Optimum.

sentence-transformers' own ``backend="onnx"`` is tried too: it needs Optimum, and the error it
raises here is recorded. Speed is passages per second over all batched ``encode`` calls (batch
size 32, longest first, as `assistant index` runs them) and the median single-question encode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
BACKENDS = ("torch", "onnx", "onnx-int8", "onnx-int8-tensor")


class Timed:
    """An encoder that adds up the time of its batched calls (passages) and single calls (questions)."""

    def __init__(self, inner: object, name: str) -> None:
        self.inner, self.name, self.dim = inner, name, inner.dim
        self.batch_seconds, self.batch_texts, self.single = 0.0, 0, []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        vectors = self.inner.encode(texts)
        elapsed = time.perf_counter() - t0
        if len(texts) == 1:
            self.single.append(elapsed)
        else:
            self.batch_seconds += elapsed
            self.batch_texts += len(texts)
        return vectors

    def reset(self) -> None:
        self.batch_seconds, self.batch_texts, self.single = 0.0, 0, []


def make_encoders(folder: Path) -> tuple[dict[str, object], dict[str, float]]:
    """The four encoders of the packaged model, and the size in MB of each one's weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from assistant.config import Settings
    from assistant.index import embed
    from assistant.index import onnx as _onnx

    torch_encoder = embed.load_model(Settings(root=folder))
    model_dir = Path(torch_encoder.location)
    _onnx.export(torch_encoder.model, torch_encoder.name, model_dir, folder)
    fp32 = _onnx.paths(folder, torch_encoder.name)[0]
    int8, tensor = _onnx.int8_path(folder, torch_encoder.name), fp32.with_name("int8-tensor.onnx")
    quantize_dynamic(fp32, tensor, per_channel=False, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    max_tokens = torch_encoder.model.get_max_seq_length()
    encoders = {"torch": torch_encoder,
                "onnx": _onnx.OnnxEncoder(torch_encoder.name, fp32, model_dir, max_tokens),
                "onnx-int8": _onnx.OnnxEncoder(torch_encoder.name, int8, model_dir, max_tokens),
                "onnx-int8-tensor": _onnx.OnnxEncoder(torch_encoder.name, tensor, model_dir, max_tokens)}
    weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) or sum(
        p.stat().st_size for p in model_dir.glob("*.bin"))
    sizes = {"torch": weights / 1e6, "onnx": fp32.stat().st_size / 1e6, "onnx-int8": int8.stat().st_size / 1e6,
             "onnx-int8-tensor": tensor.stat().st_size / 1e6}
    return encoders, sizes


def sentence_transformers_onnx() -> str:
    """What sentence-transformers' own ONNX backend does with the packaged model here."""
    from sentence_transformers import SentenceTransformer

    from assistant.index.embed import packaged_model_dir

    try:
        SentenceTransformer(str(packaged_model_dir()), backend="onnx", device="cpu")
    except Exception as exc:  # noqa: BLE001 - recorded, not hidden
        return f"fails: {str(exc).strip().splitlines()[0]}"
    return "loads"


def corpus_sample(limit: int) -> list[str]:
    from assistant.evals.beir import load_beir

    corpus, _, _ = load_beir(SCIFACT, "test")
    return list(corpus.values())[:limit]


def gold_run(assistant: Any) -> dict[str, float]:
    """Hybrid gold-set metrics with the five seed articles indexed by ``assistant``."""
    from assistant.evals.gold import load_gold
    from assistant.evals.runner import run_suite

    shutil.copytree(ROOT / "sources", assistant.settings.sources_dir)
    assistant.update()
    report = run_suite(load_gold(ROOT / "evals" / "gold.jsonl"), assistant)["hybrid"]["all"]
    keys = ("mrr@10", "ndcg@10", "recall@1", "recall@10", "abstention_precision", "abstention_recall",
            "false_abstention_rate")
    return {k: report[k] for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=500, help="SciFact abstracts for the cosine check")
    args = parser.parse_args()
    from assistant.config import Settings
    from assistant.evals.beir import evaluate_beir
    from assistant.index import embed
    from assistant.session import Assistant

    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "sentence_transformers_onnx_backend": sentence_transformers_onnx(), "backends": {}}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        encoders, sizes = make_encoders(Path(tmp))
        sample = corpus_sample(args.sample)
        reference = embed.encode_batches(encoders["torch"], sample, 32)
        for backend in BACKENDS:
            name = f"all-MiniLM-L6-v2+{backend}"
            timed = Timed(encoders[backend], name)
            vectors = embed.encode_batches(encoders[backend], sample, 32)
            cosine = np.sum(vectors * reference, axis=1)
            print(f"{backend}: SciFact", file=sys.stderr)
            beir = evaluate_beir(SCIFACT, Assistant(Settings(root=Path(tmp) / backend / "beir"), timed),
                                 modes=("dense", "hybrid"), progress=True).modes
            speed = {"passages": timed.batch_texts, "passages_per_s": timed.batch_texts / timed.batch_seconds,
                     "query_encode_p50_ms": 1000 * statistics.median(timed.single)}
            timed.reset()
            print(f"{backend}: gold set", file=sys.stderr)
            gold = gold_run(Assistant(Settings(root=Path(tmp) / backend / "gold"), timed))
            report["backends"][backend] = {
                **speed, "weights_mb": sizes[backend], "cosine_to_torch_mean": float(cosine.mean()),
                "cosine_to_torch_min": float(cosine.min()), "scifact_dense_ndcg@10": beir["dense"]["ndcg@10"],
                "scifact_hybrid_ndcg@10": beir["hybrid"]["ndcg@10"], "gold": gold}

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "backends.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    base = report["backends"]["torch"]
    print(f"{'backend':<17}{'pass/s':>8}{'x torch':>8}{'q ms':>6}{'MB':>6}{'cos min':>8}"
          f"{'SF dense':>9}{'SF hyb':>8}{'gold MRR':>9}{'nDCG':>7}{'R@1':>7}{'abst P/R':>10}{'false':>7}")
    for backend, r in report["backends"].items():
        g = r["gold"]
        print(f"{backend:<17}{r['passages_per_s']:>8.1f}{r['passages_per_s'] / base['passages_per_s']:>8.2f}"
              f"{r['query_encode_p50_ms']:>6.1f}{r['weights_mb']:>6.0f}{r['cosine_to_torch_min']:>8.4f}"
              f"{r['scifact_dense_ndcg@10']:>9.4f}{r['scifact_hybrid_ndcg@10']:>8.4f}{g['mrr@10']:>9.4f}"
              f"{g['ndcg@10']:>7.4f}{g['recall@1']:>7.3f}{g['abstention_precision']:>5.2f}/"
              f"{g['abstention_recall']:.2f}{g['false_abstention_rate']:>7.3f}")
    print(f"sentence-transformers backend='onnx': {report['sentence_transformers_onnx_backend']}")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""The ONNX export of the real model (fp32 and int8) that matches torch, the backends, and the fallback without it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.index import embed, onnx as _onnx
from assistant.index.store import load
from assistant.session import Assistant

GOLD = Path(__file__).resolve().parents[1] / "evals" / "gold.jsonl"


@pytest.fixture
def real(real_project: Settings) -> Settings:
    """This test's own copy of the seeds indexed with the real model (built once per run)."""
    return real_project


@pytest.mark.slow
def test_the_export_matches_torch_on_questions_and_passages(real: Settings) -> None:
    onnx = _onnx.load(real.model, real.index_dir)
    assert onnx is not None and onnx.dim == 384
    questions = [json.loads(line)["question"] for line in GOLD.read_text().splitlines() if line.strip()]
    texts = questions + [p.text for p in load(real).passages] + ["", "é" * 3000]
    ours = np.concatenate([onnx.encode(texts[i : i + 16]) for i in range(0, len(texts), 16)])
    theirs = embed.encode_batches(embed.load_model(real), texts, 16)
    cosines = np.sum(ours * theirs, axis=1)
    assert len(texts) > 200 and cosines.min() >= _onnx.MIN_COSINE, cosines.min()


@pytest.mark.slow
def test_ask_in_a_fresh_process_never_imports_torch(real: Settings) -> None:
    script = ("import sys, json; from assistant.cli import cli\n"
              "try: cli(['--root', sys.argv[1], 'ask', 'How many referrals were there?', '--json'])\n"
              "except SystemExit: pass\n"
              "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", script, str(real.root)], capture_output=True, text=True, check=True)
    answer, imported = out.stdout.strip().splitlines()
    assert "642,980 referrals" in json.loads(answer)["answer"]
    assert json.loads(imported) == []


@pytest.mark.slow
def test_without_the_export_questions_use_torch(real: Settings, tmp_path: Path) -> None:
    elsewhere = real.replace(index_dir=tmp_path / "index")
    assert _onnx.load(real.model, elsewhere.index_dir) is None
    assert isinstance(embed.Encoders(elsewhere).query(), embed.SentenceTransformerEncoder)
    assert isinstance(embed.Encoders(real).query(), _onnx.OnnxEncoder)


def test_no_export_for_a_custom_encoder(archive: Settings, assistant: Assistant) -> None:
    assistant.update()
    assert not (archive.index_dir / _onnx.FOLDER).exists()
    assert assistant.encoders.ensure_export() is None
    assert load(archive).manifest.model.backend == "custom"


@pytest.mark.slow
def test_passages_and_questions_use_the_int8_copy_by_default(real: Settings) -> None:
    snapshot = load(real)
    assert snapshot.manifest.model.backend == "onnx-int8"
    int8 = _onnx.load(real.model, real.index_dir, int8=True)
    assert int8 is not None and _onnx.int8_path(real.index_dir, real.model).is_file()
    texts = [p.text for p in snapshot.passages]
    stored = snapshot.dense_matrix()
    assert np.allclose(stored, embed.encode_batches(int8, texts, real.batch_size), atol=1e-5)
    assert isinstance(embed.Encoders(real).query("onnx-int8"), _onnx.OnnxEncoder)
    questions = [json.loads(line)["question"] for line in GOLD.read_text().splitlines() if line.strip()]
    both = questions + texts
    cosines = np.sum(embed.encode_batches(int8, both, 16) * embed.encode_batches(embed.load_model(real), both, 16), axis=1)
    assert cosines.min() >= _onnx.MIN_INT8_COSINE, cosines.min()
    assert cosines.mean() < 0.9999  # really quantised: not the fp32 graph under another name


@pytest.mark.slow
def test_changing_the_backend_embeds_every_passage_again(real: Settings, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(real.root, tmp_path / "copy")
    copy = Settings(root=tmp_path / "copy")
    assert Assistant(copy).update().embedded == 0
    as_torch = Assistant(copy.replace(backend="torch")).update()
    assert as_torch.embedded == as_torch.passages == len(load(real).passages)
    assert load(copy).manifest.model.backend == "torch"
    assert Assistant(copy.replace(backend="torch")).update().embedded == 0
    assert Assistant(copy).update().embedded == as_torch.passages


@pytest.mark.slow
def test_an_export_without_int8_copy_is_made_again(real: Settings, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(real.index_dir / _onnx.FOLDER, tmp_path / "index" / _onnx.FOLDER)
    older = real.replace(index_dir=tmp_path / "index")
    onnx_path, meta_path = _onnx.paths(older.index_dir, older.model)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if not k.startswith("int8")}))
    _onnx.int8_path(older.index_dir, older.model).unlink()
    assert _onnx.load(older.model, older.index_dir, int8=True) is None
    assert embed.Encoders(older).ensure_export() is None
    assert _onnx.load(older.model, older.index_dir, int8=True) is not None


def test_an_unknown_backend_is_one_clear_line(archive: Settings) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    result = CliRunner().invoke(cli, ["--root", str(archive.root), "--model", archive.model, "index"],
                                env={"ASSISTANT_BACKEND": "gpu"})
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "Error: unknown embedding backend 'gpu'; choose onnx-int8 or torch")

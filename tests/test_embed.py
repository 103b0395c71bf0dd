"""The query encoder: an ONNX export of the real model that matches torch, and the fallback without it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant import _onnx, embed
from assistant.config import Settings
from assistant.indexer import update
from assistant.sources import add
from conftest import seed_files

GOLD = Path(__file__).resolve().parents[1] / "evals" / "gold.jsonl"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(root=tmp_path_factory.mktemp("onnx"))
    for path in seed_files():
        add(str(path), settings)
    update(settings)
    yield settings


@pytest.mark.slow
def test_the_export_matches_torch_on_questions_and_passages(real: Settings) -> None:
    from assistant.store import load

    onnx = _onnx.load(real.model, real.index_dir)
    assert onnx is not None and onnx.dim == 384
    questions = [json.loads(line)["question"] for line in GOLD.read_text().splitlines() if line.strip()]
    texts = questions + [p.text for p in load(real).passages] + ["", "é" * 3000]
    ours = np.concatenate([onnx.encode(texts[i : i + 16]) for i in range(0, len(texts), 16)])
    theirs = embed.encode_batches(embed.load_encoder(real), texts, 16)
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
    assert isinstance(embed.load_query_encoder(elsewhere), embed.SentenceTransformerEncoder)
    assert isinstance(embed.load_query_encoder(real), _onnx.OnnxEncoder)


def test_no_export_for_a_registered_encoder(archive: Settings) -> None:
    update(archive)
    assert not (archive.index_dir / _onnx.FOLDER).exists()
    assert embed.export_query_encoder(archive) is None

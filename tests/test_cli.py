"""The command line: one-line errors, JSON output, and the real model end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.index import store
from assistant.session import Assistant
from conftest import FAKE_MODEL, HashEncoder


def run(settings: Settings, *args: str, encoder: HashEncoder | None = None) -> tuple[int, str, str]:
    """The command line, with the fake encoder handed in when the settings name it."""
    encoder = encoder or (HashEncoder() if settings.model == FAKE_MODEL else None)
    result = CliRunner().invoke(cli, ["--root", str(settings.root), "--model", settings.model, *args],
                                obj=lambda s: Assistant(s, encoder))
    return result.exit_code, result.stdout, result.stderr


def test_add_then_index_and_status_json(settings: Settings, seed_paths: list[Path], encoder: HashEncoder) -> None:
    code, out, _ = run(settings, "add", "--json", *map(str, seed_paths), encoder=encoder)
    data = json.loads(out)
    assert code == 0 and [r["status"] for r in data["results"]] == ["added"] * 5
    assert data["index"]["sources"] == 5 and data["index"]["embedded"] > 0
    assert data["index"]["embedded"] + data["index"]["sentences_embedded"] == encoder.encoded
    code, out, _ = run(settings, "index", "--status", "--json")
    info = json.loads(out)
    assert code == 0 and info["up_to_date"] and info["indexed_sources"] == 5
    assert info["model"] == {"name": FAKE_MODEL, "dim": 64, "backend": "custom"}
    code, out, _ = run(settings, "index")
    assert code == 0 and out.startswith("index is up to date: 5 articles")


def test_add_reports_each_item_and_fails_on_errors(archive: Settings, seed_paths: list[Path], tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    code, out, err = run(archive, "add", str(seed_paths[0]), str(tmp_path / "empty.txt"), str(tmp_path / "x.docx"))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert "duplicates sources/" in lines[0] and "empty.txt is empty" in lines[1] and "unsupported file type" in lines[2]


def test_status_text_lists_stale_articles(archive: Settings) -> None:
    code, out, _ = run(archive, "index", "--status")
    assert code == 0 and "new:" in out and "stale: run `assistant index`" in out


def test_damaged_index_is_one_line_and_rebuild_recovers(archive: Settings) -> None:
    run(archive, "index")
    vectors = store.current_path(archive) / store.VECTORS
    vectors.write_bytes(vectors.read_bytes()[:100])
    code, out, err = run(archive, "index", "--status")
    assert code == 1 and err.strip().count("\n") == 0
    assert "run `assistant index --rebuild`" in err and "Traceback" not in err
    code, out, _ = run(archive, "index", "--rebuild")
    assert code == 0 and "5 articles" in out


def test_bad_environment_value_is_one_line(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_BATCH_SIZE", "lots")
    code, _, err = run(settings, "index", "--status")
    assert code == 1 and err.strip() == "Error: ASSISTANT_BATCH_SIZE must be a number, not 'lots'"


def test_sources_lists_the_archive(archive: Settings) -> None:
    code, out, _ = run(archive, "sources", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 5 and all(r["path"].startswith("sources/") for r in rows)


@pytest.mark.slow
def test_real_model_builds_a_searchable_index(real_project: Settings) -> None:
    """The index `assistant add` built with the real model (conftest's ``real_index``) is searched from the CLI."""
    from assistant.index.embed import load_model

    settings = real_project
    code, out, err = run(settings, "index", "--status", "--json")
    assert code == 0 and json.loads(out)["up_to_date"], err
    code, out, err = run(settings, "ask", "--json", "How many referrals were there in 2019-20?")
    assert code == 0 and "642,980 referrals" in json.loads(out)["answer"], err
    snap = store.load(settings)
    assert snap.manifest.model == store.ModelInfo("all-MiniLM-L6-v2", 384, "onnx-int8")
    matrix = snap.dense_matrix()
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    query = load_model(settings).encode(["How many referrals were there in 2019-20?"])
    _, ids = snap.vectors.search(query, 3)
    assert any("642,980 referrals" in snap.passages[i].text for i in ids[0])

"""The typed index manifest: written complete, read back equal, and anything else refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import IndexCorruptError
from assistant.index import store
from assistant.session import Assistant
from conftest import HashEncoder, write_source

BODY = "The council said on Monday that it would publish a plan for foster carers.\n"


@pytest.fixture
def built(settings: Settings, assistant: Assistant) -> Path:
    write_source(settings, "one", "One", BODY)
    assistant.update()
    path = store.current_path(settings)
    assert path is not None
    return path / store.MANIFEST


def test_manifest_round_trips_and_records_every_file(built: Path) -> None:
    manifest = store.Manifest.from_json(built.read_text(encoding="utf-8"))
    assert store.Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.format == store.FORMAT_VERSION == 3
    assert set(manifest.files) >= {store.PASSAGES, store.VECTORS}
    assert all(len(f.sha256) == 64 for f in manifest.files.values())
    assert manifest.passages == sum(e.passages for e in manifest.sources.values()) > 0


def _damage(path: Path, change: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("change", [
    lambda d: d.update(format=1),
    lambda d: d.pop("model"),
    lambda d: d["model"].pop("backend"),
    lambda d: d["model"].update(dim="384"),
    lambda d: d.update(sources={}),
    lambda d: d.update(sources=[]),
    lambda d: d.update(counts=None),
    lambda d: d.update(files={"passages.jsonl": 12}),
], ids=["format-1", "no-model", "no-backend", "dim-as-text", "empty-sources", "sources-a-list", "no-counts",
        "files-as-sizes"])
def test_an_old_or_damaged_manifest_is_one_line_naming_rebuild(settings: Settings, built: Path,
                                                                change: object) -> None:
    _damage(built, change)
    with pytest.raises(IndexCorruptError, match=r"run `assistant index --rebuild`"):
        store.load(settings)
    result = CliRunner().invoke(cli, ["--root", str(settings.root), "--model", settings.model, "index", "--status"],
                                obj=lambda s: Assistant(s, HashEncoder()))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0 and "assistant index --rebuild" in result.stderr


def test_a_current_pointer_that_is_not_text_is_refused(settings: Settings, built: Path) -> None:
    (settings.index_dir / store.CURRENT).write_bytes(b"\xff\xfe gen")
    with pytest.raises(IndexCorruptError, match=r"assistant index --rebuild"):
        store.load(settings)


def test_rebuild_recovers_from_an_old_format(settings: Settings, built: Path, assistant: Assistant) -> None:
    _damage(built, lambda d: d.update(format=1))
    assert assistant.update(rebuild=True).passages > 0
    assert store.load(settings).manifest.format == store.FORMAT_VERSION


def test_settings_folders_follow_root_unless_given(tmp_path: Path) -> None:
    moved = Settings(root=tmp_path / "a").replace(root=tmp_path / "b")
    assert moved.index_dir == tmp_path / "b" / "index" and moved.sources_dir == tmp_path / "b" / "sources"
    kept = Settings(root=tmp_path / "a", index_dir=tmp_path / "elsewhere").replace(root=tmp_path / "b")
    assert kept.index_dir == tmp_path / "elsewhere" and kept.sources_dir == tmp_path / "b" / "sources"

"""The typed index manifest: written complete, read back equal, and anything else refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import IndexCorruptError, IndexFormatError
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
    assert manifest.format == store.FORMAT_VERSION == 4
    assert manifest.search == store.SearchInfo("flat", "float32", 0)
    assert set(manifest.files) >= {store.PASSAGES, store.VECTORS}
    assert all(len(f.sha256) == 64 for f in manifest.files.values())
    assert manifest.passages == sum(e.passages for e in manifest.sources.values()) > 0


def _damage(path: Path, change: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("change", [
    lambda d: d.update(format="4"),
    lambda d: d.pop("model"),
    lambda d: d["model"].pop("backend"),
    lambda d: d["model"].update(dim="384"),
    lambda d: d.update(sources={}),
    lambda d: d.update(sources=[]),
    lambda d: d.update(counts=None),
    lambda d: d.update(files={"passages.jsonl": 12}),
    lambda d: d["search"].update(dense="annoy"),
    lambda d: d["search"].update(dense="ivf"),
    lambda d: d["search"].update(vectors="int4"),
], ids=["format-as-text", "no-model", "no-backend", "dim-as-text", "empty-sources", "sources-a-list", "no-counts",
        "files-as-sizes", "unknown-dense-index", "ivf-without-lists", "unknown-vector-format"])
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


@pytest.mark.parametrize("older", [1, 3])
def test_an_index_of_an_older_format_is_rebuilt_by_the_next_update(settings: Settings, built: Path,
                                                                   assistant: Assistant, older: int) -> None:
    indexed = store.load(settings).manifest.passages
    _damage(built, lambda d: d.update(format=older))
    with pytest.raises(IndexFormatError, match=rf"^index format {older} is not {store.FORMAT_VERSION}; run `assistant index --rebuild`$"):
        store.load(settings)  # asking still gets the one-line message until the index is updated
    status = CliRunner().invoke(cli, ["--root", str(settings.root), "--model", settings.model, "index", "--status"],
                                obj=lambda s: Assistant(s, HashEncoder()))
    assert status.exit_code == 0 and "stale: run `assistant index`" in status.output
    report = assistant.update()  # what `assistant index` and `make chat` do: everything indexed again
    assert report.embedded == indexed and store.load(settings).manifest.format == store.FORMAT_VERSION
    assert store.load(settings).manifest.format == store.FORMAT_VERSION


def test_settings_folders_follow_root_unless_given(tmp_path: Path) -> None:
    moved = Settings(root=tmp_path / "a").replace(root=tmp_path / "b")
    assert moved.index_dir == tmp_path / "b" / "index" and moved.sources_dir == tmp_path / "b" / "sources"
    kept = Settings(root=tmp_path / "a", index_dir=tmp_path / "elsewhere").replace(root=tmp_path / "b")
    assert kept.index_dir == tmp_path / "elsewhere" and kept.sources_dir == tmp_path / "b" / "sources"


# --- any damage, one line -------------------------------------------------------------------------------------
OPTIONAL = {"publisher", "author", "published", "url"}  # of a source entry; None is a valid value


def _paths(data: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path in a JSON object, outermost first."""
    if not isinstance(data, dict):
        return []
    return [p for key, value in data.items() for p in [(*prefix, key), *_paths(value, (*prefix, key))]]


def _at(data: dict, path: tuple[str, ...]) -> tuple[dict, str]:
    for key in path[:-1]:
        data = data[key]
    return data, path[-1]


def _needed(path: tuple[str, ...]) -> bool:
    """Whether a manifest without this key is damaged (a generation's file list may be shorter)."""
    # ivf_lists: absent from flat and HNSW manifests written before IVF (an IVF one without it is refused, above)
    return path[-1] not in OPTIONAL and not (path[0] == "files" and len(path) == 2) and path != ("search", "ivf_lists")


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                             max_size=2))


def _kind(value: object) -> str:
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def _load_outcome(settings: Settings, manifest: Path, data: bytes) -> str:
    """"ok" or "refused"; anything but IndexCorruptError with the one-line message fails the test."""
    manifest.write_bytes(data)
    try:
        store.load(settings)
    except IndexCorruptError as exc:
        message = str(exc)
        assert "\n" not in message and message.endswith("run `assistant index --rebuild`"), message
        return "refused"
    return "ok"


@pytest.fixture
def original(built: Path) -> bytes:
    """The manifest as written, kept before any example overwrites it."""
    return built.read_bytes()


DAMAGE = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@DAMAGE
@given(choice=st.data())
def test_a_manifest_without_a_needed_key_is_refused(settings: Settings, built: Path, original: bytes,
                                                    choice: st.DataObject) -> None:
    data = json.loads(original)
    path = choice.draw(st.sampled_from([p for p in _paths(data) if _needed(p)]))
    parent, key = _at(data, path)
    del parent[key]
    assert _load_outcome(settings, built, json.dumps(data).encode()) == "refused"


@DAMAGE
@given(choice=st.data(), value=JSON_VALUES)
def test_a_manifest_value_of_another_type_is_refused(settings: Settings, built: Path, original: bytes,
                                                     choice: st.DataObject, value: object) -> None:
    data = json.loads(original)
    path = choice.draw(st.sampled_from(_paths(data)))
    parent, key = _at(data, path)
    assume(_kind(value) != _kind(parent[key]) and not (key in OPTIONAL and (value is None or isinstance(value, str))))
    parent[key] = value
    assert _load_outcome(settings, built, json.dumps(data).encode()) == "refused"


@DAMAGE
@given(cut=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_a_truncated_manifest_is_refused(settings: Settings, built: Path, original: bytes, cut: float) -> None:
    assert _load_outcome(settings, built, original[: int(len(original) * cut)]) == "refused"


@DAMAGE
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_a_manifest_of_random_bytes_is_refused(settings: Settings, built: Path, data: bytes) -> None:
    assert _load_outcome(settings, built, data) == "refused"


@DAMAGE
@given(at=st.floats(min_value=0, max_value=1, exclude_max=True), junk=st.binary(min_size=1, max_size=8))
def test_bytes_written_over_a_manifest_never_give_a_traceback(settings: Settings, built: Path, original: bytes,
                                                              at: float, junk: bytes) -> None:
    start = int(len(original) * at)
    _load_outcome(settings, built, original[:start] + junk + original[start + len(junk):])  # a digit of a hash may pass


def test_a_deeply_nested_manifest_is_refused(settings: Settings, built: Path) -> None:
    assert _load_outcome(settings, built, b"[" * 100_000) == "refused"


@DAMAGE
@given(pointer=st.binary(max_size=40) | st.text(max_size=20).map(lambda t: f"gen-{t}".encode()))
def test_a_damaged_current_pointer_is_refused(settings: Settings, built: Path, pointer: bytes) -> None:
    assume(pointer.decode("utf-8", "replace").strip() != built.parent.name)
    (settings.index_dir / store.CURRENT).write_bytes(pointer)
    with pytest.raises(IndexCorruptError, match=r"^[^\n]*run `assistant index --rebuild`$"):
        store.load(settings)

"""A loaded generation's passages, read from passages.jsonl by offset: the same passages, and no other."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from assistant.config import Settings
from assistant.errors import IndexCorruptError
from assistant.index import passages as lazy, store
from assistant.types import Passage

DIM = 8


def _written(settings: Settings, texts: list[str], per_source: int = 3) -> list[Passage]:
    """A generation of ``texts``, ``per_source`` passages to an article, written with ``store.write_index``."""
    made = []
    for i, text in enumerate(texts):
        sid = f"s{i // per_source}"
        half = len(text) // 2
        spans = ((0, half), (half, len(text))) if half else ((0, len(text)),)
        made.append(Passage(f"{sid}#{i % per_source}", sid, text, 0, len(text), spans))
    counts: dict[str, int] = {}
    for p in made:
        counts[p.source_id] = counts.get(p.source_id, 0) + 1
    sources = {sid: store.SourceEntry(sid, "", n, sid) for sid, n in counts.items()}
    manifest = store.Manifest(store.ModelInfo("fake", DIM, "custom"), store.ChunkerInfo(0, 0), "", sources)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(made), DIM)).astype(np.float32)
    sentences = rng.normal(size=(sum(len(p.sentences) for p in made), DIM)).astype(np.float32)
    store.write_index(settings, manifest, made, vectors, sentences)
    return made


TEXTS = ["Carers met on Monday.", "Zoë said “no” — twice.", "A plan for 412 carers.", "x", "Funding ends in May.",
         "The council agreed.", "Respite mattered most.", "Two more districts."]


def test_passages_read_by_offset_are_the_passages_written(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    made = _written(settings, TEXTS)
    got = store.load(settings).passages
    assert len(got) == len(made)
    assert list(got) == made
    assert [got[i] for i in reversed(range(len(made)))] == made[::-1]
    assert got[-1] == made[-1] and got[2:5] == made[2:5] and got[::3] == made[::3]
    assert [got.row(p.id) for p in made] == list(range(len(made)))
    assert got.first_sentence.tolist() == np.cumsum([0] + [len(p.sentences) for p in made]).tolist()
    with pytest.raises(KeyError):
        got.row("s0#9")
    with pytest.raises(IndexError):
        got[len(made)]
    assert got.in_sources({"s1"}).tolist() == [p.source_id == "s1" for p in made]


@hsettings(max_examples=25, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40), min_size=1, max_size=30),
       st.integers(1, 4))
def test_any_passages_round_trip(tmp_path_factory: pytest.TempPathFactory, texts: list[str], per_source: int) -> None:
    settings = Settings(root=tmp_path_factory.mktemp("gen"))
    made = _written(settings, [f"Carers {t}" for t in texts], per_source)  # a word for BM25 in each
    got = store.load(settings).passages
    assert list(got) == made and [got[i] for i in range(len(made))] == made
    assert [got.row(p.id) for p in made] == list(range(len(made)))


def test_iteration_reads_block_by_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(root=tmp_path)
    made = _written(settings, TEXTS * 4)
    monkeypatch.setattr(lazy, "_BLOCK", 50)  # a few passages a block, and blocks smaller than one line
    assert list(store.load(settings).passages) == made


def test_a_file_changed_after_load_gives_no_other_passage(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    made = _written(settings, TEXTS)
    passages = store.load(settings).passages
    assert passages[0] == made[0]
    path = store.current_path(settings)
    assert path is not None
    data = (path / store.PASSAGES).read_bytes()  # same length: every offset still points at a line
    (path / store.PASSAGES).write_bytes(data.replace(b"council agreed", b"council denied"))
    with pytest.raises(IndexCorruptError, match="changed after it was loaded"):
        passages[5]
    assert passages[0] == made[0]  # read before the change: kept
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        store.load(settings)


def test_a_loaded_generation_is_read_after_its_folder_is_removed(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    made = _written(settings, TEXTS)
    passages = store.load(settings).passages
    path = store.current_path(settings)
    assert path is not None
    shutil.rmtree(path)  # as an update two generations later does
    assert list(passages) == made and passages[7] == made[7]


def test_a_line_that_is_no_passage_is_refused_at_load(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    _written(settings, TEXTS)
    path = store.current_path(settings)
    assert path is not None
    with open(path / store.PASSAGES, "ab") as out:
        out.write(b'{"id": "s9#0"}\n')
    with pytest.raises(IndexCorruptError, match="is unreadable"):
        lazy.open_passages(path / store.PASSAGES, {})
    with pytest.raises(IndexCorruptError, match="missing or truncated"):
        store.load(settings)

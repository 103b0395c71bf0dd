"""Importing many articles: folders, batches committed as they are done, resuming after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.index import build, store
from assistant.session import Assistant
from conftest import HashEncoder, write_source

TESTS = Path(__file__).resolve().parent


class RecordingEncoder(HashEncoder):
    """The hash encoder, remembering every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += texts
        return super().encode(texts)


def article(n: int) -> str:
    """A short article of two paragraphs whose words are its own (no two articles share a passage)."""
    return (f"Report {n}\n\nThe council of district {n} said on Monday that {n * 7} families were helped. "
            f"Officers in district {n} expect the figure to rise by {n % 13 + 2} percent next year. "
            f"The report for district {n} counted {n * 11} referrals and {n * 2} new foster carers.\n\n"
            f"A spokesperson for district {n} said the plan number {n * 3} would be ready by the spring. "
            f"It added that district {n} would hire {n + 4} more social workers to cut waiting times. "
            f"Councillors in district {n} welcomed the news at their meeting on Tuesday evening.\n")


def folder_of(path: Path, count: int) -> Path:
    path.mkdir(parents=True)
    for n in range(count):
        (path / f"report-{n:03d}.txt").write_text(article(n), encoding="utf-8")
    return path


def test_a_folder_is_imported_with_its_subfolders_and_hidden_files_left_out(settings: Settings,
                                                                            encoder: HashEncoder,
                                                                            tmp_path: Path) -> None:
    incoming = folder_of(tmp_path / "incoming", 3)
    (incoming / "deeper").mkdir()
    (incoming / "deeper" / "more.md").write_text(article(10), encoding="utf-8")
    (incoming / "notes.pdf").write_bytes(b"%PDF-1.4")
    (incoming / ".hidden.txt").write_text(article(11), encoding="utf-8")
    (incoming / "zz-copy.txt").write_text(article(0), encoding="utf-8")  # the same text as report-000.txt
    (tmp_path / "empty").mkdir()
    added = Assistant(settings, encoder).add([str(incoming), str(tmp_path / "empty")])
    statuses = {Path(i.item).name: i.status for i in added.items}
    assert statuses == {"empty": "error", "zz-copy.txt": "skipped", "more.md": "added", "report-000.txt": "added",
                        "report-001.txt": "added", "report-002.txt": "added"}
    assert [i.message for i in added.items if i.status == "error"] == [
        f"{tmp_path / 'empty'} holds no .txt, .md, .html or .htm files"]
    assert added.index is not None and added.index.sources == 4
    assert len(store.load(settings).manifest.sources) == 4


def test_batches_are_committed_as_they_are_done_and_give_the_index_of_one_pass(tmp_path: Path) -> None:
    incoming = folder_of(tmp_path / "incoming", 12)
    once = Settings(root=tmp_path / "once", model="test-hash")
    Assistant(once, HashEncoder()).add([str(incoming)])
    batched = Settings(root=tmp_path / "batched", model="test-hash", ingest_batch=5, commit_seconds=0)
    report = Assistant(batched, HashEncoder()).add([str(incoming)]).index
    assert report is not None and report.generation == "gen-000003"  # 5 + 5 + 2 articles, one generation each
    a, b = store.load(once), store.load(batched)
    assert list(a.passages) == list(b.passages) and a.manifest.sources == b.manifest.sources
    assert np.array_equal(a.dense_matrix(), b.dense_matrix())
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)


def test_a_batch_is_committed_only_when_the_work_since_the_last_outweighs_writing_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(build.time, "monotonic", lambda: clock[0])

    class SlowWrite:
        def commit(self) -> Path:
            clock[0] += 3.0  # writing the generation takes 3 s
            return Path("gen-000001")

    pace = build.Pace(every=30.0)
    clock[0] += 29.0
    assert not pace.due()
    clock[0] += 1.0
    assert pace.due()
    pace.commit(SlowWrite())  # type: ignore[arg-type]
    clock[0] += 59.0  # 30 s have passed, but not 20 times the 3 s the write took
    assert not pace.due()
    clock[0] += 1.0
    assert pace.due()
    assert build.Pace(every=0).due()


def test_an_update_that_fails_midway_keeps_what_it_committed(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, model="test-hash", ingest_batch=2, commit_seconds=0)
    for n in range(4):
        write_source(settings, f"a{n}", f"A{n}", article(n))
    Assistant(settings, HashEncoder()).update()
    for n in range(4):  # every article changes its last sentence, alone in its passage
        write_source(settings, f"a{n}", f"A{n}", article(n).replace("Tuesday", "Wednesday"))
    for n in range(4, 8):
        write_source(settings, f"a{n}", f"A{n}", article(n))

    class Failing(RecordingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            if any("district 6 " in t for t in texts):  # the second batch: a6 and a7
                raise RuntimeError("the machine went away")
            return super().encode(texts)

    with pytest.raises(RuntimeError):
        Assistant(settings, Failing()).update()
    # New articles come first: a4 and a5 were committed; a0..a3 keep their indexed versions meanwhile.
    snap = store.load(settings)
    assert sorted(snap.manifest.sources) == ["a0", "a1", "a2", "a3", "a4", "a5"]
    assert all("Wednesday" not in p.text for p in snap.passages)
    rest = RecordingEncoder()
    report = Assistant(settings, rest).update()
    assert report.plan.new == ("a6", "a7") and report.plan.changed == ("a0", "a1", "a2", "a3")
    assert not any("district 4 " in t or "district 5 " in t for t in rest.texts)  # committed: not again
    # Of a changed article only its changed passage (and that passage's sentences) is embedded.
    changed = [t for t in rest.texts if any(f"district {n} " in t for n in range(4))]
    assert len(changed) == 8 and all("Wednesday" in t for t in changed)  # 4 passages of one sentence each
    assert sum("Wednesday" in p.text for p in store.load(settings).passages) == 4


_KILLED_ADD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from conftest import HashEncoder
    from assistant.config import Settings
    from assistant.session import Assistant

    class Slow(HashEncoder):
        def encode(self, texts):
            time.sleep(0.02)  # slow enough for the test to kill it between commits
            return super().encode(texts)

    settings = Settings(root=sys.argv[1], model="test-hash", ingest_batch=4, commit_seconds=0)
    Assistant(settings, Slow()).add([sys.argv[2]])
""")


def test_add_killed_midway_resumes_without_embedding_a_committed_passage_again(tmp_path: Path) -> None:
    incoming = folder_of(tmp_path / "incoming", 60)
    root = tmp_path / "project"
    script = tmp_path / "add.py"
    script.write_text(_KILLED_ADD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    child = subprocess.Popen([sys.executable, str(script), str(root), str(incoming), str(TESTS)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    settings = Settings(root=root, model="test-hash")
    deadline = time.monotonic() + 60
    while _generation(settings) < 4 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err

    committed = store.load(settings)  # never damaged, whenever the kill came
    assert 4 <= len(committed.manifest.sources) < 60
    done = {p.text for p in committed.passages}
    encoder = RecordingEncoder()
    resumed = Assistant(settings, encoder).add([str(incoming)])  # run again, as a user would
    assert {i.status for i in resumed.items} <= {"added", "skipped"}
    assert resumed.index is not None and resumed.index.sources == 60
    assert resumed.index.embedded == resumed.index.passages - committed.manifest.passages
    assert not done & set(encoder.texts)  # no committed passage (nor one of its sentences) embedded again
    fresh = Settings(root=tmp_path / "fresh", model="test-hash")
    Assistant(fresh, HashEncoder()).add([str(incoming)])
    final, reference = store.load(settings), store.load(fresh)
    assert [p.text for p in final.passages] == [p.text for p in reference.passages]
    assert np.allclose(final.dense_matrix(), reference.dense_matrix())


def _generation(settings: Settings) -> int:
    try:
        path = store.current_path(settings)
    except Exception:  # noqa: BLE001 - CURRENT being replaced: look again
        return 0
    return 0 if path is None else int(path.name[4:])

"""The incremental index: what gets embedded, deletion, damage, crashes and the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assistant.index import store
from assistant.config import Settings
from assistant.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from assistant.session import Assistant
from conftest import HashEncoder, write_source

NEW_BODY = (
    "A new article arrives.\n\nThe council said on Monday that it would publish a plan for foster carers. "
    "It added that the plan would be ready by the spring.\n"
)


def test_build_from_seeds_records_manifest_and_exact_offsets(archive: Settings, encoder: HashEncoder) -> None:
    report = Assistant(archive, encoder).update()
    snap = store.load(archive)
    assert report.sources == 5 and report.passages == len(snap.passages) > 20
    assert snap.manifest.model == store.ModelInfo("test-hash", 64, "custom")
    assert snap.manifest.chunker.max_chars == archive.chunk_chars
    assert snap.manifest.format == store.FORMAT_VERSION
    assert len(snap.manifest.sources) == 5
    for sid, entry in snap.manifest.sources.items():
        assert len(entry.sha256) == 64 and entry.path == f"sources/{sid}.md"
    assert all(len(f.sha256) == 64 and f.size > 0 for f in snap.manifest.files.values())
    texts = {sid: (archive.root / e.path).read_bytes().decode("utf-8") for sid, e in snap.manifest.sources.items()}
    for p in snap.passages:
        assert texts[p.source_id][p.start : p.end] == p.text


def test_adding_one_article_embeds_only_its_passages(archive: Settings, encoder: HashEncoder) -> None:
    first = Assistant(archive, encoder).update()
    assert first.embedded == first.passages and first.sentences_embedded > first.passages
    assert encoder.encoded == first.embedded + first.sentences_embedded
    write_source(archive, "new-article", "A new article", NEW_BODY)
    before = encoder.encoded
    report = Assistant(archive, encoder).update()
    new_passages = [p for p in store.load(archive).passages if p.source_id == "new-article"]
    assert report.plan.new == ("new-article",) and len(report.plan.unchanged) == 5
    assert report.embedded == len(new_passages)
    assert report.sentences_embedded == sum(len(p.sentences) for p in new_passages)
    assert report.embedded + report.sentences_embedded == encoder.encoded - before
    assert report.reused == first.passages


def test_up_to_date_index_is_left_alone(archive: Settings, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    live = store.current_path(archive)
    before = encoder.encoded
    report = Assistant(archive, encoder).update()
    assert report.generation is None and encoder.encoded == before
    assert store.current_path(archive) == live


def test_changed_article_reuses_vectors_of_unchanged_passages(settings: Settings, encoder: HashEncoder) -> None:
    settings = settings.replace(chunk_chars=120)  # one passage per paragraph
    path = write_source(settings, "story", "Story", NEW_BODY)
    Assistant(settings, encoder).update()
    path.write_text(path.read_text(encoding="utf-8") + "\nA late paragraph was added to the story today.\n",
                    encoding="utf-8")
    before = encoder.encoded
    report = Assistant(settings, encoder).update()
    texts = [p.text for p in store.load(settings).passages]
    assert report.plan.changed == ("story",)
    assert any("late paragraph" in t for t in texts)
    assert report.embedded + report.sentences_embedded == encoder.encoded - before
    assert report.embedded < len(texts)  # the unchanged passage and its sentences were reused


def test_deleted_article_is_removed(archive: Settings, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    victim = sorted(archive.sources_dir.glob("*.md"))[0]
    victim.unlink()
    assert Assistant(archive, encoder).status().plan.deleted == (victim.stem,)
    report = Assistant(archive, encoder).update()
    snap = store.load(archive)
    assert report.plan.deleted == (victim.stem,)
    assert victim.stem not in snap.manifest.sources
    assert all(p.source_id != victim.stem for p in snap.passages)
    assert Assistant(archive, encoder).status().up_to_date is True


def test_status_reports_stale_sources(settings: Settings, encoder: HashEncoder) -> None:
    assistant = Assistant(settings, encoder)
    assert assistant.status().up_to_date is False
    write_source(settings, "one", "One", NEW_BODY)
    info = assistant.status()
    assert info.plan.new == ("one",) and info.passages == 0
    assistant.update()
    info = assistant.status()
    assert info.up_to_date and info.indexed_sources == 1 and info.passages > 0


@pytest.mark.parametrize("name", [store.VECTORS, store.PASSAGES, store.MANIFEST])
def test_truncated_index_file_is_reported_and_rebuild_recovers(archive: Settings, name: str, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    target = store.current_path(archive) / name
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(IndexCorruptError, match=r"assistant index --rebuild"):
        store.load(archive)
    with pytest.raises(IndexCorruptError):
        Assistant(archive, encoder).update()
    report = Assistant(archive, encoder).update(rebuild=True)
    assert store.load(archive).manifest.passages == report.passages > 0


def test_missing_index_says_how_to_build_it(settings: Settings, encoder: HashEncoder) -> None:
    with pytest.raises(IndexMissingError, match=r"run `assistant index`"):
        store.load(settings)


def test_index_built_by_another_model_is_refused(archive: Settings, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    other = HashEncoder(name="other-model", dim=32)
    with pytest.raises(IndexCorruptError, match="test-hash.*--rebuild"):
        Assistant(archive.replace(model="other-model"), other).update()
    assert other.encoded == 0
    report = Assistant(archive.replace(model="other-model"), other).update(rebuild=True)
    assert store.load(archive).manifest.model == store.ModelInfo("other-model", 32, "custom") and report.embedded > 0


def test_unreadable_article_keeps_its_indexed_version(settings: Settings, encoder: HashEncoder) -> None:
    path = write_source(settings, "story", "Story", NEW_BODY)
    Assistant(settings, encoder).update()
    count = store.load(settings).manifest.passages
    path.write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    report = Assistant(settings, encoder).update()
    assert any("story" in w and "kept the indexed version" in w for w in report.warnings)
    assert store.load(settings).manifest.passages == count


def test_lock_held_by_another_process_gives_a_clear_error(settings: Settings, encoder: HashEncoder) -> None:
    write_source(settings, "one", "One", NEW_BODY)
    settings.index_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from filelock import FileLock; l=FileLock(sys.argv[1]); l.acquire(); "
         "print('held', flush=True); time.sleep(60)", str(settings.index_dir / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IndexBusyError, match="another `assistant index`"):
            Assistant(settings, encoder).update()
        assert store.current_path(settings) is None
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert Assistant(settings, encoder).update().sources == 1


_CRASHING_UPDATE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from assistant.config import Settings
    from assistant.session import Assistant

    class Enc:
        name, dim = "test-hash", 64
        def encode(self, texts):
            rng = np.random.default_rng(len(texts))
            v = rng.normal(size=(len(texts), 64)).astype("float32")
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    kill_at, calls = int(sys.argv[2]), []  # kill_at 0: never killed, only counted

    def step(real):
        def wrapped(*args):
            calls.append(real.__name__)
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args)
        return wrapped

    os.replace, os.fsync = step(os.replace), step(os.fsync)
    Assistant(Settings(root=sys.argv[1], model="test-hash"), Enc()).update()
    print(" ".join(calls))
""")


def _crashing_update(root: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    """`assistant index` in a child process, killed just before its ``kill_at``-th fsync or replace (0: never)."""
    script = root.parent / "crash.py"
    script.write_text(_CRASHING_UPDATE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, str(script), str(root), str(kill_at)],
                          capture_output=True, text=True, env=env, timeout=120)


def _one_indexed_and_two_new(root: Path, encoder: HashEncoder) -> Settings:
    settings = Settings(root=root, model="test-hash", lock_timeout=0.5)
    write_source(settings, "one", "One", NEW_BODY)
    Assistant(settings, encoder).update()
    write_source(settings, "two", "Two", NEW_BODY.replace("council", "charity"))
    return settings


def test_killed_update_leaves_a_usable_index(tmp_path: Path, encoder: HashEncoder) -> None:
    counted = _crashing_update(_one_indexed_and_two_new(tmp_path / "count", encoder).root, kill_at=0)
    assert counted.returncode == 0, counted.stderr
    calls = counted.stdout.split()
    assert len(calls) >= 13, calls  # a few files fsynced, the generation renamed, CURRENT written and renamed
    switch = len(calls) - calls[::-1].index("replace")  # the last replace makes the new generation live
    for kill_at in range(1, len(calls) + 1):  # every one of them, the CURRENT switch and the fsync after it included
        settings = _one_indexed_and_two_new(tmp_path / f"kill-{kill_at}", encoder)
        run = _crashing_update(settings.root, kill_at)
        assert run.returncode == -signal.SIGKILL, (kill_at, run.returncode, run.stderr)
        snap = store.load(settings)  # never damaged: the old generation until the switch, the new one after it
        assert set(snap.manifest.sources) == ({"one", "two"} if kill_at > switch else {"one"}), kill_at
        question = "When will the plan for foster carers be ready?"
        answer = Assistant(settings.replace(abstain_below=0.0), encoder).ask(question)
        assert answer.citations and answer.citations[0].quote in NEW_BODY, kill_at
        final = Assistant(settings, encoder).update()
        assert final.sources == 2 and store.load(settings).manifest.passages == final.passages, kill_at
        assert set(store.load(settings).manifest.sources) == {"one", "two"}
        assert not list(settings.index_dir.glob("*.tmp")), kill_at


def test_generations_are_pruned(settings: Settings, encoder: HashEncoder) -> None:
    for i in range(4):
        write_source(settings, f"a{i}", f"A{i}", NEW_BODY.replace("council", f"council {i}"))
        Assistant(settings, encoder).update()
        time.sleep(0.01)
    gens = sorted(p.name for p in settings.index_dir.glob("gen-*"))
    assert len(gens) == 2 and store.current_path(settings).name == gens[-1]
    assert json.loads((settings.index_dir / gens[-1] / store.MANIFEST).read_text())["generation"] == 4


def test_batched_encoding_keeps_the_order_of_the_texts(encoder: HashEncoder) -> None:
    import numpy as np

    from assistant.index.embed import encode_batches

    texts = [("word " * n) + f"text{n}" for n in (3, 40, 1, 17, 8, 25, 2)]
    assert np.array_equal(encode_batches(encoder, texts, batch_size=3), encoder.encode(texts))
    assert encode_batches(encoder, [], batch_size=3).shape == (0, encoder.dim)


# --- integrity: checksums on load, quotes against the archive ------------------------------------------------


def test_one_changed_byte_in_the_passages_is_caught_before_an_answer(archive: Settings, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    target = store.current_path(archive) / store.PASSAGES
    data = target.read_bytes()
    assert b"642,980" in data
    target.write_bytes(data.replace(b"642,980", b"999,999", 1))  # same length: the size check alone passes
    with pytest.raises(IndexCorruptError) as info:
        Assistant(archive, encoder).ask("How many referrals were there in 2019-20?")
    assert str(info.value) == "index file passages.jsonl does not match its checksum; run `assistant index --rebuild`"


@pytest.mark.parametrize("name", [store.VECTORS, store.SENTENCES])
def test_garbage_over_part_of_a_vector_file_is_detected(archive: Settings, name: str, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    target = store.current_path(archive) / name
    with open(target, "r+b") as f:
        f.seek(target.stat().st_size // 2)
        f.write(os.urandom(64))
    with pytest.raises(IndexCorruptError, match=rf"^index file {name} does not match its checksum; .*--rebuild`$"):
        store.load(archive)


@pytest.mark.parametrize("old, new", [(b"642,980", b"999,999"), (b"642,980 referrals", b"many referrals")])
def test_an_article_edited_after_indexing_is_never_misquoted(archive: Settings, encoder: HashEncoder, old: bytes,
                                                            new: bytes) -> None:
    from assistant.errors import IndexStaleError

    assistant = Assistant(archive, encoder)
    assistant.update()
    question = "How many referrals were there in 2019-20?"
    assert any("642,980" in c.quote for c in assistant.ask(question).citations)
    path = next(p for p in archive.sources_dir.glob("*.md") if old in p.read_bytes())
    path.write_bytes(path.read_bytes().replace(old, new))
    with pytest.raises(IndexStaleError) as info:
        assistant.ask(question)
    assert str(info.value) == (f"{archive.relative(path)} has changed since it was indexed; "
                               "run `assistant index` and ask again")
    assistant.update()
    texts = {p: p.read_bytes().decode("utf-8") for p in archive.sources_dir.glob("*.md")}
    for c in assistant.ask(question).citations:
        assert texts[archive.root / c.source.path][c.start : c.end] == c.quote

"""Web chat handlers, without a browser: rendering, escaping, follow-ups, uploads, removal, the watch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from html import unescape
from pathlib import Path

import pytest
from conftest import HashEncoder, write_source

from assistant.answer import conversation
from assistant.config import Settings
from assistant.session import Assistant
from assistant.sources import archive_paths
from assistant.web.app import App, example_questions, user_questions

ED = "ed"  # a signed-in editor's name, as the web layer would pass it
HOSTILE = ("The Wexmoor council said its foster scheme <script>window.__xss = 1</script> placed 37 children "
           'in 2020 <img src=x onerror="window.__xss = 2"> across the county.')


@pytest.fixture
def app(archive: Settings, encoder: HashEncoder) -> App:
    assistant = Assistant(archive, encoder)
    assistant.update()
    return App(assistant)


def ask(app: App, question: str, history: list | None = None, **kw: object) -> tuple[list, str, str]:
    return app.respond(question, history or [], **{"mode": "hybrid", "k": 5, **kw})


def snapshot(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(settings.sources_dir.rglob("*")) if p.is_file()}


def test_an_answer_shows_quotes_citations_and_sources_in_context(app: App) -> None:
    history, panel, box = ask(app, "How many referrals were there in 2019-20?")
    assert box == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    reply = history[1]["content"]
    assert "642,980 referrals" in reply and "[1]" in reply and '<blockquote class="quote" data-span="sources/' in reply
    assert '<section class="source" id="cite-1">' in panel
    assert "<mark>There were 642,980 referrals in 2019-20" in panel
    assert "Read the whole article" in panel


def test_an_abstention_is_shown_with_the_nearest_passages(app: App) -> None:
    history, panel, _ = ask(app, "Which striker scored a hat-trick at Wembley?")
    reply = history[1]["content"]
    assert "do not answer" in reply and reply.count("<li>") == 3 and "[1]" not in reply
    assert "Nearest passages" in panel and "<mark>" not in panel and panel.count('class="source nearest"') == 5


def test_article_text_is_escaped_everywhere(app: App) -> None:
    write_source(app.settings, "wexmoor", 'Wexmoor <img src=x onerror="alert(1)">', HOSTILE)
    history, panel, _ = ask(app, "How many children did the Wexmoor foster scheme place?")
    shown = history[1]["content"] + panel
    assert "Wexmoor" in shown
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in panel
    assert "<script" not in shown and "<img" not in shown and "onerror=\"" not in shown
    question = '<img src=x onerror="alert(1)">'
    history, _, _ = ask(app, question, history)
    assert history[-2]["content"] == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert user_questions(history)[-1] == question


MARKDOWN_QUESTION = ("How many referrals? ![x](http://127.0.0.1:9/x.png) [see this](https://evil.example/a) "
                     "<https://evil.example/b> www.evil.example **bold** `code` $x^2$ user@evil.example")


def test_markdown_in_a_question_is_shown_as_plain_text(app: App) -> None:
    history, _, _ = ask(app, MARKDOWN_QUESTION)
    shown = history[0]["content"]
    # Nothing markdown or HTML would make live: no brackets, parentheses after them, backticks, stars, colons...
    for syntax in ["![", "](", "[", "]", "<", "`", "**", "$", "http:", "https:", "www.", "@"]:
        assert syntax not in shown, syntax
    assert unescape(shown) == MARKDOWN_QUESTION  # still the question, word for word, once read back
    assert user_questions(history) == [MARKDOWN_QUESTION]
    assert [m["role"] for m in history] == ["user", "assistant"]


def test_a_question_over_several_lines_is_shown_on_one() -> None:
    from assistant.web.app import shown_question

    assert shown_question("# Heading\n\n- item\n1. first\n> quote\n---") == \
        "&#35; Heading &#45; item 1&#46; first &gt; quote &#45;&#45;&#45;"


def test_a_pasted_title_over_the_limit_is_refused(app: App) -> None:
    before = snapshot(app.settings)
    status = unescape(app.add_pasted("B" * 7000, "The council said it would publish a plan.", "", "", editor=ED))
    assert "the title is 7,000 characters; the limit is 300" in status and 'class="error"' in status
    assert snapshot(app.settings) == before


def test_follow_up_rule() -> None:
    first = "How many children were on child protection plans?"
    assert conversation.is_follow_up("and how many of those became plans?")
    assert conversation.is_follow_up("What did she say about it?")
    assert conversation.is_follow_up("What about in 2009-10?")
    assert not conversation.is_follow_up(first)
    assert not conversation.is_follow_up("Who said that the system was like a Jenga tower?")
    assert not conversation.is_follow_up("Were there more Section 47 enquiries than referrals?")
    assert not conversation.is_follow_up("and " + " ".join(["word"] * 12))
    assert conversation.search_text("What about in 2009-10?", [first]) == f"{first} What about in 2009-10?"
    assert conversation.search_text("And in Wales?", [first, "What about in 2009-10?"]) == \
        f"{first} What about in 2009-10? And in Wales?"
    assert conversation.search_text("Who chairs the review?", [first]) == "Who chairs the review?"
    assert conversation.search_text("and those?", []) == "and those?"
    long = "x" * 2000 + " plans?"
    assert len(conversation.search_text("and those?", [long])) <= conversation.MAX_CONTEXT_CHARS + 20


def test_a_follow_up_is_searched_with_the_question_before_it(app: App) -> None:
    history, _, _ = ask(app, "How many referrals were there in 2019-20?")
    history, _, _ = ask(app, "and how many children were in need?", history)
    reply = history[-1]["content"]
    assert "searched for:</em> How many referrals were there in 2019-20? and how many children" in reply
    assert "389,260 children in need" in reply


def test_user_questions_reads_both_content_shapes() -> None:
    history = [{"role": "user", "content": "a &amp; b"}, {"role": "assistant", "content": "x"},
               {"role": "user", "content": [{"type": "text", "text": "second"}]}]
    assert user_questions(history) == ["a & b", "second"]


def test_filters_and_bad_dates(app: App) -> None:
    sid = archive_paths(app.settings)[1].stem
    history, panel, _ = ask(app, "What did the chair compare the system to?", sources=[sid])
    assert f"sources/{sid}.md" in panel
    assert all(f"sources/{p.stem}.md" not in panel for p in archive_paths(app.settings) if p.stem != sid)
    history, panel, _ = ask(app, "What did the chair say?", since="17 June")
    assert "the 'from' date '17 June' is not a date; use YYYY-MM-DD" in unescape(history[-1]["content"])


def test_an_empty_question_changes_nothing(app: App) -> None:
    assert ask(app, "   ")[0] == []


def test_upload_names_cannot_leave_the_archive(app: App, tmp_path: Path) -> None:
    upload = tmp_path / "upload.txt"
    upload.write_text("Upload title\n\nThe Ashbourne pilot trained 12 family help workers in 2021.\n")
    status = app.add_upload(str(upload), "", "", "", editor=ED)
    assert "Added sources/upload-title.md" in status
    from assistant.web.app import articles

    for name in ("../../etc/evil.md", "..\\..\\evil.txt", "/tmp/x/../../evil.html"):
        base = articles.upload_name(name, app.settings)
        assert "/" not in base and "\\" not in base and ".." not in base
    for bad in (".hidden.txt", "photo.png", "", "folder/"):
        before = snapshot(app.settings)
        with pytest.raises(Exception, match="cannot import"):
            articles.upload_name(bad, app.settings)
        assert snapshot(app.settings) == before
    assert not (app.settings.root / "etc").exists() and not (app.settings.root.parent / "evil.md").exists()


def test_bad_uploads_get_a_message_and_change_nothing(app: App, tmp_path: Path) -> None:
    before = snapshot(app.settings)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (app.settings.max_file_bytes // 5 + 1))
    image = tmp_path / "image.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    seed = archive_paths(app.settings)[0]
    for path, message in [(big, "the limit is"), (image, "only .txt"), (binary, "binary"),
                          (seed, "duplicates")]:
        status = app.add_upload(str(path), "", "", "", editor=ED)
        assert 'class="error"' in status and message in status, status
    assert 'class="error"' in app.add_upload(None, "", "", "", editor=ED)
    assert "give the pasted article a title" in app.add_pasted("", "text", "", "", editor=ED)
    assert "paste the article" in app.add_pasted("Title", "  ", "", "", editor=ED)
    assert "not a date" in app.add_pasted("Title", "Some text here.", "", "yesterday", editor=ED)
    assert snapshot(app.settings) == before


def test_a_pasted_article_is_cited_by_the_next_question(app: App) -> None:
    status = app.add_pasted("Wexmoor fostering", HOSTILE, "Wexmoor Gazette", "2022-03-01", editor=ED)
    assert "Added sources/wexmoor-fostering.md" in status and "passages indexed" in status
    row = next(r for r in app.rows() if r.id == "wexmoor-fostering")
    assert (row.publisher, row.published, row.passages) == ("Wexmoor Gazette", "2022-03-01", 1)
    history, panel, _ = ask(app, "How many children did the Wexmoor foster scheme place?")
    assert "sources/wexmoor-fostering.md" in panel and "Wexmoor Gazette" in panel


def test_remove_takes_an_article_out_and_keeps_its_file(app: App) -> None:
    sid = archive_paths(app.settings)[0].stem
    status = app.remove(sid, editor=ED)
    assert f"Removed {sid}" in status and f"sources/.removed/{sid}.md" in status
    assert sid not in {p.stem for p in archive_paths(app.settings)}
    assert (app.settings.sources_dir / ".removed" / f"{sid}.md").is_file()
    assert sid not in {r.id for r in app.rows()}
    assert "no article 'nope' in sources/" in unescape(app.remove("nope", editor=ED))
    assert "Choose an article" in app.remove(None, editor=ED)


def test_without_an_editor_nothing_is_added_removed_or_restored(app: App, tmp_path: Path) -> None:
    sid = archive_paths(app.settings)[0].stem
    app.remove(sid, editor=ED)
    kept = app.removed_choices()[0][1]
    upload = tmp_path / "upload.txt"
    upload.write_text("Upload title\n\nThe Ashbourne pilot trained 12 family help workers in 2021.\n")
    before, passages = snapshot(app.settings), [r.passages for r in app.rows()]
    for editor in (None, ""):
        for status in (app.add_upload(str(upload), "", "", "", editor=editor),
                       app.add_pasted("Title", "The council said so.", "", "", editor=editor),
                       app.remove(archive_paths(app.settings)[1].stem, editor=editor),
                       app.restore(kept, editor=editor)):
            assert "Sign in as an editor" in status and 'class="error"' in status
    assert snapshot(app.settings) == before and [r.passages for r in app.rows()] == passages


def test_a_removal_is_logged_and_undone(app: App) -> None:
    sid = archive_paths(app.settings)[0].stem
    title = next(r.title for r in app.rows() if r.id == sid)
    original = (app.settings.sources_dir / f"{sid}.md").read_bytes()
    assert "can be restored" in app.remove(sid, editor="alice")
    (label, kept), = app.removed_choices()
    assert title in label and "by alice" in label and kept == f"{sid}.md"
    history, _, _ = ask(app, "How many referrals were there in 2019-20?")
    assert f"sources/{sid}.md" not in history[-1]["content"]
    status = app.restore(kept, editor="bob")
    assert f"Restored sources/{sid}.md" in status and app.removed_choices() == []
    assert (app.settings.sources_dir / f"{sid}.md").read_bytes() == original
    assert next(r.passages for r in app.rows() if r.id == sid)  # indexed again
    log = [json.loads(line) for line in (app.settings.sources_dir / ".removed" / "log.jsonl").read_text().splitlines()]
    assert [(e["action"], e["id"], e["by"]) for e in log] == [("remove", sid, "alice"), ("restore", sid, "bob")]
    assert log[0]["title"] == title and log[0]["path"] == f"sources/{sid}.md" and log[0]["at"].endswith("+00:00")
    assert "nothing removed under" in app.restore(kept, editor="bob")


def test_restoring_what_was_added_again_is_refused(app: App) -> None:
    path = archive_paths(app.settings)[0]
    text = path.read_text()
    app.remove(path.stem, editor=ED)
    path.write_text(text)  # the same article, back by other means
    app.refresh()
    before = snapshot(app.settings)
    status = unescape(app.restore(app.removed_choices()[0][1], editor=ED))
    assert f"is in the archive again as sources/{path.name}; not restored" in status
    assert snapshot(app.settings) == before


def test_removed_copies_are_bounded(archive: Settings, encoder: HashEncoder) -> None:
    from assistant.sources import removals

    settings = archive.replace(removed_keep=2)
    app = App(Assistant(settings, encoder))
    ids = [p.stem for p in archive_paths(settings)]
    for sid in ids:
        app.remove(sid, editor=ED)
    kept = sorted(p.name for p in (settings.sources_dir / ".removed").glob("*.md"))
    assert kept == sorted(f"{sid}.md" for sid in ids[-2:])
    assert [r.source_id for r in removals(settings)] == ids[:-3:-1]  # newest first
    log = (settings.sources_dir / ".removed" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in log].count("expire") == 3
    small = archive.replace(removed_max_bytes=1)
    app = App(Assistant(small, encoder))
    app.restore(ids[-1], editor=ED)
    app.remove(ids[-1], editor=ED)
    assert len(list((small.sources_dir / ".removed").glob("*.md"))) == 1  # over the bytes: only the newest


def test_articles_dropped_into_sources_are_indexed_before_the_next_answer(app: App) -> None:
    ask(app, "How many referrals were there?")  # the watch has seen the archive as it was
    write_source(app.settings, "dropped", "Dropped in", "The Brindle review counted 4,321 kinship carers in 2021.")
    assert app.refresh() is True
    assert app.refresh() is False  # nothing new since
    history, panel, _ = ask(app, "How many kinship carers did the Brindle review count?")
    assert "4,321 kinship carers" in history[-1]["content"] and "sources/dropped.md" in panel


def test_table_and_choices(app: App) -> None:
    app.add_pasted("Wexmoor fostering", HOSTILE, "Wexmoor Gazette", "", editor=ED)
    table = app.table()
    assert len(table) == 6 and all(isinstance(row[3], int) and row[3] > 0 for row in table)
    ids, publishers = app.choices()
    assert {i for _, i in ids} == {p.stem for p in archive_paths(app.settings)}
    assert publishers == ["Wexmoor Gazette"]


def test_example_questions_come_from_the_gold_set_for_articles_present(app: App) -> None:
    ids = [p.stem for p in archive_paths(app.settings)]
    gold = app.settings.root / "evals" / "gold.jsonl"
    gold.parent.mkdir()
    rows = [{"question": f"Q about {sid}?", "answers": ["x"], "sources": [sid]} for sid in ids]
    rows += [{"question": "Unanswerable?", "answers": [], "sources": []},
             {"question": "Missing article?", "answers": ["x"], "sources": ["gone"]}]
    rows = [{"id": f"q{n}", "kind": "figure", "split": "tune", **r} for n, r in enumerate(rows)]
    gold.write_text("\n".join(json.dumps(r) for r in rows))
    assert example_questions(app.settings) == [f"Q about {sid}?" for sid in ids[:4]]
    os.remove(gold)
    assert example_questions(app.settings) == []


def _hold_index_lock(settings: Settings) -> subprocess.Popen[str]:
    """Another process holding the index lock, as `assistant index` does while it writes."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from filelock import FileLock; l=FileLock(sys.argv[1]); l.acquire(); "
         "print('held', flush=True); time.sleep(60)", str(settings.index_dir / ".lock")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_question_never_waits_for_an_update_in_another_process(archive: Settings, encoder: HashEncoder) -> None:
    assistant = Assistant(archive.replace(lock_timeout=10.0), encoder)
    assistant.update()
    app = App(assistant)
    ask(app, "How many referrals were there?")  # the watch has seen the archive as it was
    write_source(app.settings, "dropped", "Dropped in", "The Brindle review counted 4,321 kinship carers in 2021.")
    holder = _hold_index_lock(app.settings)
    try:
        started = time.monotonic()
        history, _, _ = ask(app, "How many referrals were there in 2019-20?")
        assert time.monotonic() - started < 3  # waiting for the lock would take 10 s
        assert "642,980 referrals" in history[-1]["content"]  # from the last committed generation
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    history, panel, _ = ask(app, "How many kinship carers did the Brindle review count?")
    assert "4,321 kinship carers" in history[-1]["content"] and "sources/dropped.md" in panel


def test_a_question_never_waits_for_an_update_in_this_process(app: App) -> None:
    ask(app, "How many referrals were there?")
    write_source(app.settings, "dropped", "Dropped in", "The Brindle review counted 4,321 kinship carers in 2021.")
    done: list[bool] = []
    with app.watch._lock:  # an upload's update is running in another thread
        worker = threading.Thread(target=lambda: done.append(app.refresh()))
        worker.start()
        worker.join(timeout=3)
        assert done == [False]
        history, _, _ = ask(app, "How many referrals were there in 2019-20?")
        assert "642,980 referrals" in history[-1]["content"]
    assert app.refresh() is True


def test_the_command_line_removes_lists_and_restores_with_the_log(archive: Settings) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    sid = archive_paths(archive)[0].stem
    original = (archive.sources_dir / f"{sid}.md").read_bytes()
    base = ["--root", str(archive.root)]
    runner = CliRunner()
    assert runner.invoke(cli, [*base, "remove", "--no-index", sid]).exit_code == 0
    listed = runner.invoke(cli, [*base, "restore"])
    assert listed.exit_code == 0 and listed.output.startswith(f"{sid}.md\t") and "(command line)" in listed.output
    restored = runner.invoke(cli, [*base, "restore", "--no-index", sid])
    assert restored.exit_code == 0 and restored.output.strip() == f"Restored sources/{sid}.md"
    assert (archive.sources_dir / f"{sid}.md").read_bytes() == original
    again = runner.invoke(cli, [*base, "restore", "--no-index", sid])
    assert again.exit_code == 1 and again.output.strip() == (f"Error: nothing removed under {sid!r} can be "
                                                             "restored; `assistant restore` lists what can")

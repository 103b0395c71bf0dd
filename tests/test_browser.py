"""The web chat end to end: `assistant serve` with the real model, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from assistant.config import Settings
from conftest import copy_project

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
GOLD = Path(__file__).resolve().parents[1] / "evals" / "gold.jsonl"
# Generous: on a 2-core machine running the whole suite, answering or indexing can take many seconds.
PAGE_TIMEOUT = 60_000  # ms, for any wait not given its own
SERVER_WORK = 180_000  # ms, for an answer or an upload to be indexed
NEW_ARTICLE = """Ashbourne trial of family help hubs

Ashbourne County Council said its trial of family help hubs supported 1,284 families in its first year.
The council's director of children's services, Priya Okafor, said the hubs had cut repeat referrals by a fifth.
"""
EDITOR, PASSWORD = "alice", "browser-test-pass"
HOSTILE = """The Wexmoor council said its fostering drive <script>window.__xss = 1</script> recruited 58 new foster
carers in 2022 <img src=x onerror="window.__xss = 2"> across the county's three districts."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(real_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = copy_project(real_index, tmp_path_factory.mktemp("web") / "project").root  # the tests add articles
    (root / "evals").mkdir()
    shutil.copy(GOLD, root / "evals" / "gold.jsonl")
    port = free_port()
    command = [str(Path(sys.executable).with_name("assistant")), "--root", str(root), "serve", "--port", str(port)]
    with open(root / "serve.log", "w") as log:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASSISTANT_EDITORS": f"{EDITOR}:{PASSWORD}"}
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            yield _started(proc, f"http://127.0.0.1:{port}/", root), root
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _started(proc: subprocess.Popen, url: str, root: Path) -> str:
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("assistant serve did not start:\n" + (root / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
    return url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, server: tuple[str, Path]) -> Iterator[object]:
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.set_default_timeout(PAGE_TIMEOUT)
    pg.set_default_navigation_timeout(PAGE_TIMEOUT)
    pg.goto(server[0])
    expect(pg.locator("#question textarea")).to_be_editable()
    yield pg
    assert dialogs == [], "a script from an article ran"
    pg.close()


def ask(page: object, question: str) -> None:
    """Ask on a page with no answer yet; returns when the answer and its sources are shown."""
    expect(page.locator("#chat .message-row")).to_have_count(0)
    page.fill("#question textarea", question)
    page.click("#ask")
    # The sources panel and the chat are outputs of one event: sources shown means the answer is in too.
    expect(page.locator("#sources section.source").first).to_be_attached(timeout=SERVER_WORK)
    expect(page.locator("#chat .message-row")).to_have_count(2)


def last_answer(page: object) -> str:
    return page.locator("#chat .message-row").last.inner_text()


def open_articles(page: object) -> None:
    page.get_by_role("tab", name="Articles").click()
    expect(page.locator("#articles-table")).to_be_visible()


def sign_in(page: object) -> None:
    """Sign in as the editor through the sign-in page, back on the chat."""
    page.get_by_role("tab", name="Articles").click()
    page.click("#sign-in-link")
    page.fill("#name", EDITOR)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#question textarea")).to_be_editable()
    open_articles(page)
    expect(page.locator("#editor-name")).to_have_text(EDITOR)
    expect(page.locator("#editor-tools")).to_be_visible()


def test_a_question_is_answered_with_quotes_citations_and_sources(page: object) -> None:
    ask(page, "How many referrals were there in 2019-20?")
    assert "642,980 referrals" in last_answer(page) and "[1]" in last_answer(page)
    sources = page.locator("#sources")
    assert "642,980 referrals" in sources.locator("mark").first.inner_text()
    first = sources.locator("section.source").first
    article = first.locator("div.article")
    assert not article.is_visible()
    first.locator("summary").click()  # open the whole article
    assert article.is_visible() and "642,980 referrals" in article.locator("mark").inner_text()
    assert len(article.inner_text()) > 2000


def test_an_example_question_is_answered_on_click(page: object) -> None:
    examples = page.locator("#chat .example")
    expect(examples.first).to_be_visible()
    examples.first.click()
    expect(page.locator("#sources section.source").first).to_be_attached(timeout=SERVER_WORK)
    expect(page.locator("#chat .message-row")).to_have_count(2)


def test_an_off_topic_question_is_declined(page: object) -> None:
    ask(page, "Who won the Premier League in 2020?")
    assert "do not answer" in last_answer(page)
    assert "Nearest passages" in page.locator("#sources").inner_text()


def test_an_uploaded_article_is_cited_without_a_restart(page: object, tmp_path: Path) -> None:
    upload = tmp_path / "ashbourne.txt"
    upload.write_text(NEW_ARTICLE, encoding="utf-8")
    sign_in(page)
    page.set_input_files("#upload input[type=file]", str(upload))
    # The name shows while the file is still uploading ("Uploading 1 file..."), and "Add" clicked then finds no
    # file; the download link appears only once the server holds it.
    expect(page.locator("#upload a[download='ashbourne.txt']")).to_be_visible()
    page.click("#add-upload")
    status = page.locator("#articles-status")
    expect(status).to_contain_text("Added sources/ashbourne-trial-of-family-help-hubs.md", timeout=SERVER_WORK)
    expect(status.locator(".error")).to_have_count(0)
    expect(page.locator("#articles-table")).to_contain_text("Ashbourne trial of family help hubs")
    page.get_by_role("tab", name="Chat").click()
    ask(page, "How many families did the Ashbourne family help hubs support?")
    assert "1,284 families" in last_answer(page)
    assert "Ashbourne trial of family help hubs" in page.locator("#sources").inner_text()


def test_markdown_in_a_question_shows_as_typed(page: object) -> None:
    question = "How many referrals? ![x](http://127.0.0.1:9/x.png) [link](https://evil.example/) **bold**"
    ask(page, question)
    mine = page.locator("#chat .message-row").first
    assert mine.locator("img").count() == 0 and mine.locator("a").count() == 0 and mine.locator("strong").count() == 0
    assert question in " ".join(mine.inner_text().split())


def test_script_in_an_article_stays_inert_text(page: object) -> None:
    sign_in(page)
    page.fill("#paste-title textarea, #paste-title input", "Wexmoor <img src=x onerror=\"window.__xss = 3\">")
    page.fill("#paste-text textarea", HOSTILE)
    page.click("#add-paste")
    expect(page.locator("#articles-status")).to_contain_text("Added sources/", timeout=SERVER_WORK)
    page.get_by_role("tab", name="Chat").click()
    ask(page, "How many foster carers did the Wexmoor fostering drive recruit?")
    shown = page.locator("#sources").inner_text()
    assert "<script>window.__xss = 1</script>" in shown and 'onerror="window.__xss = 2"' in shown
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#sources script").count() == 0


def test_a_signed_out_visitor_cannot_remove(page: object, server: tuple[str, Path]) -> None:
    root = server[1]
    assert "Editors (1, from ASSISTANT_EDITORS)" in (root / "serve.log").read_text()
    before = sorted(p.name for p in (root / "sources").glob("*.md"))
    open_articles(page)
    expect(page.locator("#sign-in-link")).to_be_visible()
    expect(page.locator("#editor-tools")).to_be_hidden()
    expect(page.locator("#remove")).to_be_hidden()
    # What a script in the visitor's page could send: the remove event, straight to the API.
    reply = page.evaluate("""async (id) => {
        const r = await fetch("gradio_api/call/remove", {method: "POST", headers: {"Content-Type": "application/json"},
                                                        body: JSON.stringify({data: [id]})});
        const {event_id} = await r.json();
        return await (await fetch("gradio_api/call/remove/" + event_id)).text();
    }""", before[0].removesuffix(".md"))
    assert "Sign in as an editor" in reply
    assert sorted(p.name for p in (root / "sources").glob("*.md")) == before
    upload = page.evaluate("""async () => {
        const form = new FormData();
        form.append("files", new Blob(["some text"]), "a.txt");
        return (await fetch("gradio_api/upload", {method: "POST", body: form})).status;
    }""")
    assert upload == 403


def test_an_editor_removes_an_article_and_undoes_it(page: object, server: tuple[str, Path]) -> None:
    root = server[1]
    sign_in(page)
    title = "Care Review lays out key reforms for ‘shaky’ social care system in first report"
    expect(page.locator("#articles-table")).to_contain_text(title)
    page.locator("#remove-pick input").click()
    page.get_by_role("option", name=title, exact=True).click()
    page.click("#remove")
    status = page.locator("#articles-status")
    expect(status).to_contain_text("can be restored", timeout=SERVER_WORK)
    expect(page.locator("#articles-table")).not_to_contain_text(title)
    page.locator("#restore-pick input").click()
    page.get_by_role("option", name=re.compile(re.escape(title) + ".*by " + EDITOR)).click()
    page.click("#restore")
    expect(status).to_contain_text("Restored sources/", timeout=SERVER_WORK)
    expect(page.locator("#articles-table")).to_contain_text(title)
    log = (root / "sources" / ".removed" / "log.jsonl").read_text()
    assert '"action": "remove"' in log and '"action": "restore"' in log and f'"by": "{EDITOR}"' in log

"""Faults and abuse, each case of the safety review reproduced: a real server on 127.0.0.1 where the case is
about the server (the web app in a thread, real HTTP requests), the archive and index directly otherwise.
Every refusal is checked to leave the archive and the index as they were."""

from __future__ import annotations

import gc
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import HashEncoder

from assistant.config import Settings
from assistant.session import Assistant
from assistant.sources import archive_paths
from assistant.web.app import App
from assistant.web.auth import COOKIE, Access, Editors, Sessions, hash_password
from assistant.web.ui import web_app

# Gradio and uvicorn, run in this process, leave event loops and sockets of their own to the garbage collector.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]
PASSWORD = "correct horse battery"
QUESTION = "How many referrals were there in 2019-20?"
EDITING = ("remove", "add_pasted", "restore", "add_upload")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running server over its own archive, and how to call it."""

    url: str
    settings: Settings
    sessions: Sessions
    upload_dir: Path

    def client(self, cookies: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, cookies=cookies)

    def sign_in(self, name: str = "alice", password: str = PASSWORD) -> dict[str, str]:
        with self.client() as c:
            r = c.post("/login", data={"name": name, "password": password})
            assert r.status_code == 303, r.text
            return {COOKIE: r.cookies[COOKIE]}

    def call(self, api: str, data: list[Any], cookies: dict[str, str] | None = None) -> tuple[int, str]:
        """An event through /gradio_api/call/: the POST's status, and the result stream (empty if refused)."""
        with self.client(cookies) as c:
            r = c.post(f"/gradio_api/call/{api}", json={"data": data})
            if r.status_code != 200:
                return r.status_code, r.text
            return 200, c.get(f"/gradio_api/call/{api}/{r.json()['event_id']}").text

    def join(self, api: str, data: list[Any], cookies: dict[str, str] | None = None) -> tuple[int, str]:
        """The same event as the page sends it: /gradio_api/queue/join by its number, then the session's stream."""
        with self.client(cookies) as c:
            fn = next(d["id"] for d in c.get("/config").json()["dependencies"] if d.get("api_name") == api)
            session = f"abuse{time.monotonic_ns()}"
            r = c.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn, "session_hash": session,
                                                        "event_data": None, "trigger_id": None})
            if r.status_code != 200:
                return r.status_code, r.text
            with c.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
                for line in stream.iter_lines():
                    if '"process_completed"' in line:
                        return 200, line
        return 200, ""


def snapshot(settings: Settings) -> dict[str, bytes]:
    """Every file of the archive (removed copies and log included) and of the index."""
    files = [*settings.sources_dir.rglob("*"), *settings.index_dir.rglob("*")]
    return {str(p): p.read_bytes() for p in sorted(files) if p.is_file() and ".lock" not in p.name}


@pytest.fixture
def served(archive: Settings, encoder: HashEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    upload_dir = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(upload_dir))  # read when the Blocks are made
    settings = archive.replace(max_file_bytes=200_000, upload_max_bytes=500_000)
    assistant = Assistant(settings, encoder)
    assistant.update()
    sessions = Sessions()
    access = Access(Editors({"alice": hash_password(PASSWORD), "bob": "plain-pass"}, "test"), sessions)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web_app(App(assistant), access), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", settings, sessions, upload_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        gc.collect()  # Gradio's unclosed event loops are reported here, under this module's filter, not elsewhere


def _editing_calls(s: Served) -> list[tuple[str, list[Any]]]:
    sid = archive_paths(s.settings)[0].stem
    return [("remove", [sid]), ("add_pasted", ["Pasted", "The council said 12 homes were built.", "", ""]),
            ("restore", [f"{sid}.md"]), ("add_upload", [None, "", "", ""])]


def _forged(s: Served) -> list[dict[str, str] | None]:
    real = s.sessions.issue("alice")
    return [None, {COOKIE: ""}, {COOKIE: "alice"}, {COOKIE: Sessions().issue("alice")},  # another key
            {COOKIE: real[:-3] + ("xyz" if not real.endswith("xyz") else "abc")},
            {COOKIE: s.sessions.issue("mallory")}]  # signed, but not an editor


# 1. Anyone who could open the page could delete the archive.
def test_without_a_sign_in_no_route_adds_removes_or_restores(served: Served) -> None:
    editor = served.sign_in()
    sid = archive_paths(served.settings)[1].stem
    status, out = served.call("remove", [sid], editor)  # something to restore
    assert status == 200 and f"Removed {sid}" in out
    before = snapshot(served.settings)
    refused = 0
    for cookies in _forged(served):
        for api, data in _editing_calls(served):
            for route in (served.call, served.join):
                status, out = route(api, data, cookies)
                assert status == 200 and "Sign in as an editor" in out, (api, cookies, out[:300])
                refused += 1
        with served.client(cookies) as c:  # the synchronous route too
            r = c.post("/gradio_api/run/remove", json={"data": [archive_paths(served.settings)[0].stem]})
            assert "Sign in as an editor" in r.text
            refused += 1
    assert refused == 6 * 9
    assert snapshot(served.settings) == before


def test_an_editor_removes_and_undoes_and_the_log_says_who(served: Served) -> None:
    sid = archive_paths(served.settings)[0].stem
    _, out = served.call("remove", [sid], served.sign_in("bob", "plain-pass"))
    assert f"Removed {sid}" in out and not (served.settings.sources_dir / f"{sid}.md").exists()
    _, out = served.call("chat", [QUESTION, [], "hybrid", 5, [], [], "", ""])
    assert f"sources/{sid}.md" not in out
    _, out = served.join("restore", [f"{sid}.md"], served.sign_in())
    assert f"Restored sources/{sid}.md" in out
    log = (served.settings.sources_dir / ".removed" / "log.jsonl").read_text().splitlines()
    assert [(json.loads(x)["action"], json.loads(x)["by"]) for x in log] == [("remove", "bob"), ("restore", "alice")]


def test_a_wrong_password_signs_nobody_in(served: Served) -> None:
    before = snapshot(served.settings)
    with served.client() as c:
        for name, password in [("alice", "wrong"), ("alice", ""), ("carol", PASSWORD), ("bob", "plain-pass ")]:
            r = c.post("/login", data={"name": name, "password": password})
            assert r.status_code == 401 and COOKIE not in r.cookies and "do not match" in r.text
        assert "Sign in as an editor" in c.post("/gradio_api/run/remove",
                                                json={"data": [archive_paths(served.settings)[0].stem]}).text
    assert snapshot(served.settings) == before


# 4. Disk had no bound: uploads stored by anyone, never cleaned, downloadable.
def test_uploads_without_a_sign_in_store_nothing(served: Served) -> None:
    body = b"word " * 39_000  # 195 KB, under the server's 200 KB limit
    with served.client() as c:
        for n in range(20):
            r = c.post("/gradio_api/upload", files={"files": (f"a{n}.txt", body)})
            assert r.status_code == 403 and "sign in as an editor" in r.text
    assert _stored(served.upload_dir) == 0


def test_an_editors_uploads_are_bounded_and_not_left_downloadable(served: Served) -> None:
    editor = served.sign_in()
    with served.client(editor) as c:
        assert c.post("/gradio_api/upload", files={"files": ("big.txt", b"x" * 200_001)}).status_code == 413
        text = "Upload title\n\nThe Ashbourne pilot trained 12 family help workers in 2021.\n"
        path = c.post("/gradio_api/upload", files={"files": ("article.txt", text.encode())}).json()[0]
        assert c.get(f"/gradio_api/file={path}").text == text  # held until added
        _, out = served.call("add_upload", [{"path": path, "meta": {"_type": "gradio.FileData"}}, "", "", ""],
                             editor)
        assert "Added sources/upload-title.md" in out
        assert c.get(f"/gradio_api/file={path}").status_code in (403, 404) and _stored(served.upload_dir) == 0
        codes = [c.post("/gradio_api/upload", files={"files": (f"f{n}.txt", b"%d " % n + b"w" * 190_000)}).status_code
                 for n in range(4)]
    assert codes == [200, 200, 200, 507]  # 500 KB of uploads not yet added is the bound
    assert _stored(served.upload_dir) <= 500_000 + 200_000


def _stored(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def test_a_visitor_cannot_make_the_server_fetch_or_copy_a_file(served: Served) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 1000)

        def log_message(self, *args: object) -> None:
            pass

    trap = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=trap.serve_forever, daemon=True).start()
    try:
        for path in (f"http://127.0.0.1:{trap.server_port}/big.txt", "/etc/passwd", str(served.settings.root)):
            file = {"path": path, "meta": {"_type": "gradio.FileData"}}
            history = [{"role": "user", "content": [{"type": "file", "file": file}]}]
            for api, data in [("chat", [QUESTION, history, "hybrid", 5, [], [], "", ""]),
                              ("add_upload", [file, "", "", ""])]:
                status, out = served.call(api, data)
                assert status == 403 and "only a signed-in editor can send files" in out
    finally:
        trap.shutdown()
    assert hits == [] and _stored(served.upload_dir) == 0


# 3. A 20 MB title: every page load then sent it.
def test_an_oversized_request_or_title_is_refused(served: Served) -> None:
    before = snapshot(served.settings)
    with served.client() as c:
        r = c.post("/gradio_api/call/add_pasted", content=b'{"data": ["' + b"T" * 2_000_000 + b'"]}')
        assert r.status_code == 413  # over 4 times the article limit, from a visitor: not even parsed
    _, out = served.call("add_pasted", ["T" * 400_000, "The council said 12 homes were built.", "", ""],
                         served.sign_in())
    assert "the title is 400,000 characters; the limit is 300" in out
    assert snapshot(served.settings) == before
    with served.client() as c:
        assert len(c.get("/config").content) < 200_000


# 5. The chat crawled while the command line indexed.
def test_a_question_to_the_server_never_waits_for_the_index_lock(served: Served) -> None:
    (served.settings.sources_dir / "dropped.md").write_text("---\ntitle: Dropped\n---\nThe Brindle review counted "
                                                            "4,321 kinship carers in 2021.\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys,time; from filelock import FileLock; l=FileLock(sys.argv[1]); "
         "l.acquire(); print('held', flush=True); time.sleep(60)", str(served.settings.index_dir / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for _ in range(3):
            started = time.monotonic()
            _, out = served.call("chat", [QUESTION, [], "hybrid", 5, [], [], "", ""])
            assert time.monotonic() - started < 3 and "642,980 referrals" in out
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


# 9. Markdown in a question was rendered.
def test_a_question_comes_back_from_the_server_as_text(served: Served) -> None:
    question = "How many referrals? ![x](http://127.0.0.1:9/x.png) [link](https://evil.example/) <img src=x>"
    _, out = served.call("chat", [question, [], "hybrid", 5, [], [], "", ""])
    mine = json.loads(out.split("data: ", 1)[1].splitlines()[0])[0][0]["content"][0]["text"]
    assert not any(s in mine for s in ("![", "](", "<img", "http:"))


# 2. One long paragraph froze everyone: sentence splitting was quadratic.
def test_a_long_paragraph_is_added_while_questions_are_still_answered(served: Served) -> None:
    sentence = "The council said its {n} family hubs supported many families in their first year. "
    text = "".join(sentence.format(n=n) for n in range(2_200))[:190_000]  # one paragraph, no line break
    editor = served.sign_in()
    added: list[str] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: added.append(served.call("add_pasted", ["Hubs", text, "", ""],
                                                                          editor)[1]))
    worker.start()
    waits = []
    while worker.is_alive() and len(waits) < 5:
        asked = time.monotonic()
        _, out = served.call("chat", [QUESTION, [], "hybrid", 5, [], [], "", ""])
        waits.append(time.monotonic() - asked)
        assert "642,980 referrals" in out
    worker.join(timeout=60)
    assert time.monotonic() - started < 60 and "Added sources/hubs.md" in added[0]
    assert waits and max(waits) < 5


# 6. `add URL` fetched internal addresses.
def test_adding_a_loopback_url_is_refused_in_one_line(archive: Settings) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    before = snapshot(archive)
    result = CliRunner().invoke(cli, ["--root", str(archive.root), "add", "--no-index", "http://127.0.0.1:9/a.html"])
    assert result.exit_code == 1 and "a loopback address; pass --allow-private to import from it" in result.output
    assert snapshot(archive) == before


# 7. The index did not check what it quoted.
def test_an_edited_article_is_never_quoted_by_the_server(served: Served) -> None:
    import os

    path = next(p for p in archive_paths(served.settings) if b"642,980" in p.read_bytes())
    _, out = served.call("chat", [QUESTION, [], "hybrid", 5, [], [], "", ""])  # the archive as indexed is seen
    times = path.stat()
    path.write_bytes(path.read_bytes().replace(b"642,980", b"999,999"))
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))  # same size and time: the watch sees no change
    _, out = served.call("chat", [QUESTION, [], "hybrid", 5, [], [], "", ""])
    assert "999,999" not in out and "has changed since it was indexed" in out


def test_a_changed_index_byte_is_caught_before_an_answer(archive: Settings, encoder: HashEncoder) -> None:
    from assistant.errors import IndexCorruptError
    from assistant.index import store

    Assistant(archive, encoder).update()
    target = store.current_path(archive) / store.PASSAGES
    target.write_bytes(target.read_bytes().replace(b"642,980", b"999,999", 1))
    with pytest.raises(IndexCorruptError, match="passages.jsonl does not match its checksum; run `assistant index "):
        Assistant(archive, encoder).ask(QUESTION)


# 8. Some damaged manifests gave a traceback.
@pytest.mark.parametrize("damage", [b'{"format": 1}', b'{"format": 3, "sources": {}}', b"\xff\xfe"])
def test_a_damaged_manifest_is_one_line(archive: Settings, encoder: HashEncoder, damage: bytes) -> None:
    from assistant.errors import IndexCorruptError
    from assistant.index import store

    Assistant(archive, encoder).update()
    (store.current_path(archive) / "manifest.json").write_bytes(damage)
    with pytest.raises(IndexCorruptError) as info:
        Assistant(archive, encoder).ask(QUESTION)
    assert "\n" not in str(info.value) and str(info.value).endswith("run `assistant index --rebuild`")


# 10. Import text quality.
def test_imported_text_is_decoded_extracted_and_cleaned(settings: Settings, tmp_path: Path) -> None:
    from assistant.sources import add, read_source

    stray = tmp_path / "stray.txt"
    stray.write_bytes("Council budget\n\nThe council’s plan costs £3m and caf\xe9 owners agreed.\n".encode()
                      .replace(b"caf\xc3\xa9", b"caf\xe9"))
    page = tmp_path / "page.txt"
    page.write_text("<!doctype html><html><head><title>Hubs open</title></head><body><article><p>The council "
                    "opened 12 family hubs in 2021, its report said on Monday.</p></article></body></html>")
    (settings.sources_dir).mkdir(parents=True)
    source = read_source(add(str(stray), settings, title="Budget \u202eevil").path, settings)
    assert "council’s plan" in source.text and "café" in source.text and source.title == "Budget evil"
    html = read_source(add(str(page), settings).path, settings)
    assert "<p>" not in html.text and "12 family hubs" in html.text
    assert {p.stat().st_mode & 0o777 for p in archive_paths(settings)} == {0o644}

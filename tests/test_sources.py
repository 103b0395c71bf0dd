"""The archive: importing files and URLs, front matter, and every kind of bad input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import DuplicateSourceError, SourceError
from assistant.sources import add, archive_paths, body_hash, read_source, slugify

TODAY = date(2026, 11, 24)

ARTICLE_HTML = """<!doctype html><html><head>
<title>Council opens new family hubs | The Gazette</title>
<meta name="author" content="Jane Reporter">
<meta property="og:site_name" content="The Gazette">
<meta property="article:published_time" content="2024-03-05T09:00:00Z">
<link rel="canonical" href="https://gazette.example/news/family-hubs">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Council opens new family hubs</h1>
<p>The council opened three family hubs on Tuesday, offering parenting advice and debt support under one roof.</p>
<p>"Families told us they wanted help before things reach crisis point," said the council leader.</p>
<p>The hubs will be open six days a week and are funded for three years.</p>
</article>
<footer>Copyright 2024 The Gazette. All rights reserved.</footer>
</body></html>"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*")} if folder.exists() else {}


def test_seed_is_archived_byte_for_byte_with_front_matter(settings: Settings, seed_paths: list[Path]) -> None:
    seed = seed_paths[4]
    result = add(str(seed), settings, today=TODAY, author="Fiona Simpson", published="2021-06-17")
    source = read_source(result.path, settings)
    assert source.text[source.body_start :] == seed.read_bytes().decode("utf-8")
    assert source.title == "Care Review lays out key reforms for ‘shaky’ social care system in first report"
    assert (source.author, source.published, source.added) == ("Fiona Simpson", "2021-06-17", "2026-11-24")
    assert source.publisher is None and source.url is None
    assert result.source_id == "care-review-lays-out-key-reforms-for-shaky-social-care"
    assert source.path == f"sources/{result.source_id}.md"


def test_title_skips_a_leading_section_label(settings: Settings, seed_paths: list[Path]) -> None:
    source = read_source(add(str(seed_paths[2]), settings).path, settings)
    assert source.title.startswith("Children's social care a 'Jenga held together with Sellotape,'")


def test_markdown_with_front_matter_keeps_its_fields(settings: Settings, tmp_path: Path) -> None:
    md = tmp_path / "in.md"
    md.write_text("---\ntitle: 'Budget: what it means'\npublisher: Daily Example\npublished: 2023-01-02\n---\n"
                  "The budget was set today. It was balanced.\n", encoding="utf-8")
    source = read_source(add(str(md), settings, today=TODAY).path, settings)
    assert (source.title, source.publisher, source.published) == ("Budget: what it means", "Daily Example", "2023-01-02")
    assert source.text[source.body_start :] == "The budget was set today. It was balanced.\n"


def test_hand_dropped_markdown_without_front_matter(settings: Settings) -> None:
    settings.sources_dir.mkdir()
    path = settings.sources_dir / "dropped.md"
    path.write_text("Café owners protest new rules in the old town\n\nThey said so.\n", encoding="utf-8")
    source = read_source(path, settings)
    assert source.body_start == 0 and source.title == "Café owners protest new rules in the old town"
    assert archive_paths(settings) == [path]


def test_body_offset_is_exact_with_non_ascii_front_matter(settings: Settings, tmp_path: Path) -> None:
    txt = tmp_path / "a.txt"
    body = "Ünïcödé “quoted” title — here\n\nSecond paragraph.\n"
    txt.write_text(body, encoding="utf-8")
    source = read_source(add(str(txt), settings, publisher="Zürich Zeitung").path, settings)
    assert source.text[source.body_start :] == body
    assert source.publisher == "Zürich Zeitung"


def test_html_import_extracts_article_and_metadata(settings: Settings, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(ARTICLE_HTML, encoding="utf-8")
    source = read_source(add(str(page), settings).path, settings)
    body = source.text[source.body_start :]
    assert "opened three family hubs on Tuesday" in body and "six days a week" in body
    assert source.title == "Council opens new family hubs"
    assert (source.author, source.publisher, source.published) == ("Jane Reporter", "The Gazette", "2024-03-05")
    assert source.url == "https://gazette.example/news/family-hubs"


class _Handler(BaseHTTPRequestHandler):
    pages = {"/article.html": ("text/html; charset=utf-8", ARTICLE_HTML.encode()),
             "/plain.txt": ("text/plain; charset=utf-8", b"Plain report headline here today\n\nIt rained all day.\n")}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path not in self.pages:
            self.send_error(404, "Not Found")
            return
        kind, data = self.pages[self.path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_import_from_a_local_server(settings: Settings, server: str) -> None:
    html = read_source(add(f"{server}/article.html", settings).path, settings)
    assert "family hubs" in html.text and html.author == "Jane Reporter"
    assert html.url == "https://gazette.example/news/family-hubs"
    plain = read_source(add(f"{server}/plain.txt", settings).path, settings)
    assert plain.url == f"{server}/plain.txt" and plain.title == "Plain report headline here today"
    assert plain.text[plain.body_start :] == "Plain report headline here today\n\nIt rained all day.\n"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("make_item, message", [
    (lambda tmp, srv: f"{srv}/missing.html", "HTTP 404"),
    (lambda tmp, srv: f"http://127.0.0.1:{_free_port()}/a.html", "could not fetch URL"),
    (lambda tmp, srv: "ftp://127.0.0.1/a.txt", "only http and https"),
    (lambda tmp, srv: str(tmp / "nope.txt"), "no such file"),
    (lambda tmp, srv: str(tmp), "is a folder"),
    (lambda tmp, srv: _write(tmp / "empty.txt", b""), "is empty"),
    (lambda tmp, srv: _write(tmp / "blank.txt", b"  \n\n \t\n"), "is empty"),
    (lambda tmp, srv: _write(tmp / "bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20), "binary"),
    (lambda tmp, srv: _write(tmp / "big.txt", b"word " * 300_000), "over the"),
    (lambda tmp, srv: _write(tmp / "a.pdf", b"%PDF-1.4"), "unsupported file type '.pdf'"),
    (lambda tmp, srv: _write(tmp / "bad.md", b"---\ntitle: [unclosed\n---\nBody.\n"), "not valid YAML"),
    (lambda tmp, srv: _write(tmp / "open.md", b"---\ntitle: X\nBody with no end.\n"), "never closed"),
    (lambda tmp, srv: _write(tmp / "list.md", b"---\n- a\n- b\n---\nBody.\n"), "key: value"),
    (lambda tmp, srv: _write(tmp / "date.md", b"---\ntitle: X\npublished: last week\n---\nBody.\n"), "not a date"),
    (lambda tmp, srv: _write(tmp / "num.md", b"---\ntitle: 42\n---\nBody.\n"), "must be text"),
])
def test_bad_input_gets_one_line_and_changes_nothing(archive: Settings, tmp_path: Path, server: str,
                                                     make_item, message: str) -> None:
    settings = archive.replace(max_file_bytes=1_000_000)
    before = snapshot(settings.sources_dir)
    with pytest.raises(SourceError) as info:
        add(make_item(tmp_path, server), settings)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert snapshot(settings.sources_dir) == before


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_non_utf8_text_is_read_with_a_warning(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(b"Caf\xe9 owners protest new rules\n\nThey said \x93no\x94 to the plan.\n")
    result = add(str(path), settings)
    assert result.warnings == ("old.txt is not UTF-8; read it as cp1252",)
    source = read_source(result.path, settings)
    assert "Café owners" in source.title and "“no”" in source.text


def test_exact_duplicate_is_skipped_naming_the_original(archive: Settings, seed_paths: list[Path], tmp_path: Path) -> None:
    before = snapshot(archive.sources_dir)
    copy = tmp_path / "copy.txt"
    copy.write_text("\n\n" + seed_paths[0].read_text(encoding="utf-8").replace("\n\n", "\n \n") + "  \n", encoding="utf-8")
    with pytest.raises(DuplicateSourceError, match="duplicates sources/childrens-social-care-a-tower") as info:
        add(str(copy), archive)
    assert info.value.existing_path.startswith("sources/")
    assert snapshot(archive.sources_dir) == before


def test_same_story_from_another_outlet_is_a_separate_source(archive: Settings, seed_paths: list[Path]) -> None:
    # Seeds 0 and 4 report the same review with the same quotes, in different words.
    texts = [read_source(p, archive) for p in archive_paths(archive)]
    assert len(texts) == 5 and len({body_hash(s.text[s.body_start:]) for s in texts}) == 5


def test_slug_collision_gets_a_number(settings: Settings, tmp_path: Path) -> None:
    for n, body in enumerate(["One story here today. It is short.\n", "Other words entirely. Still short.\n"]):
        path = tmp_path / f"{n}.txt"
        path.write_text(body, encoding="utf-8")
        add(str(path), settings, title="Same headline for both")
    assert [p.name for p in archive_paths(settings)] == ["same-headline-for-both-2.md", "same-headline-for-both.md"]


def test_bad_published_override_is_refused(settings: Settings, seed_paths: list[Path]) -> None:
    with pytest.raises(SourceError, match="not like 2021-06-17"):
        add(str(seed_paths[0]), settings, published="17/06/2021")
    assert archive_paths(settings) == []


def test_slugify() -> None:
    assert slugify("Children’s social care: a ‘tower of Jenga’") == "childrens-social-care-a-tower-of-jenga"
    assert slugify("!!!") == "article"
    assert len(slugify("word " * 40)) <= 60

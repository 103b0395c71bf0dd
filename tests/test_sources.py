"""The archive: reading sources, importing files and URLs, and refusing bad input."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from assistant.sources import fetch as _fetch, frontmatter as _frontmatter
from assistant.config import Settings
from assistant.errors import DuplicateSourceError, SourceError
from assistant.sources import SUPPORTED, add, archive_paths, body_hash, read_source, slugify
from conftest import seed_files

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
ARTICLE_HTML = (FIXTURES / "article.html").read_text(encoding="utf-8")
CANONICAL = "https://gazette.example/news/2024/family-hubs"
TODAY = date(2026, 11, 24)
SEED_2_HEADLINE = "Children's social care a 'Jenga held together with Sellotape,' says damning review"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path)


@pytest.fixture
def seeds() -> list[Path]:
    return seed_files()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment would carry the local test requests off this machine.
    for key in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder``, hidden and temporary ones included."""
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def write(path: Path, data: bytes | str) -> str:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def body_of(path: Path, settings: Settings) -> str:
    source = read_source(path, settings)
    return source.text[source.body_start :]


# --- the five real seed articles ---------------------------------------------------------


@pytest.mark.parametrize("n", range(5))
def test_seed_is_archived_byte_for_byte(settings: Settings, seeds: list[Path], n: int) -> None:
    original = seeds[n].read_bytes().decode("utf-8")
    result = add(str(seeds[n]), settings, today=TODAY)
    source = read_source(result.path, settings)
    assert source.text[source.body_start :] == original
    assert source.text == result.path.read_bytes().decode("utf-8")
    first_line = original.split("\n", 1)[0].strip()
    assert source.title == (SEED_2_HEADLINE if n == 2 else first_line)
    assert (source.publisher, source.author, source.published, source.url) == (None, None, None, None)
    assert source.added == "2026-11-24" and result.warnings == ()
    assert source.id == result.source_id == result.path.stem == slugify(source.title)
    assert source.path == f"sources/{source.id}.md"


def test_seed_front_matter_is_written_in_the_house_format(settings: Settings, seeds: list[Path]) -> None:
    path = add(str(seeds[0]), settings, today=TODAY).path
    head = path.read_text(encoding="utf-8").split("\n")[:9]
    assert head == ["---", "title: Children’s social care a ‘tower of Jenga held together with Sellotape’",
                    "publisher:", "author:", "published:", "url:", "added: '2026-11-24'", "---",
                    "Children’s social care a ‘tower of Jenga held together with Sellotape’"]
    assert path.name == "childrens-social-care-a-tower-of-jenga-held-together-with.md"


def test_overrides_round_trip_through_front_matter(settings: Settings, seeds: list[Path]) -> None:
    title = "Care review: ‘Jenga’ system — “held together with Sellotape”, says #chair " + "x" * 120
    result = add(str(seeds[4]), settings, title=title, publisher="CYP Now", author=" Fiona\n  Simpson ",
                 published="2021-06-17", url="https://cypnow.example/a?b=1#c", today=TODAY)
    source = read_source(result.path, settings)
    assert (source.title, source.publisher, source.author) == (title, "CYP Now", "Fiona Simpson")
    assert (source.published, source.url, source.added) == ("2021-06-17", "https://cypnow.example/a?b=1#c", "2026-11-24")
    front = source.text[: source.body_start]
    assert front.count("\n") == 8, "one line per field: long values are never folded"
    assert "published: '2021-06-17'" in front
    assert source.text[source.body_start :] == seeds[4].read_text(encoding="utf-8")


@hypothesis_settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=200)), min_size=4, max_size=4), body=st.text())
def test_front_matter_round_trips_any_text(values: list[str | None], body: str) -> None:
    meta = dict(zip(("title", "publisher", "author", "url"), values)) | {"published": "2021-06-17"}
    meta = {key: _frontmatter.clean_value(value) for key, value in meta.items()}
    text = _frontmatter.render(meta, body)
    parsed, body_start = _frontmatter.parse(text, "x.md")
    assert text[body_start:] == body
    assert parsed == meta | {"added": None}


# --- bounded fields -------------------------------------------------------------------------
LONG_TITLE = "Council budget " + "and more words " * 2000


def cut_between_words(title: str) -> bool:
    kept = title.removesuffix("…")
    return len(title) <= 300 and kept != title and LONG_TITLE.startswith(kept) and LONG_TITLE[len(kept)] == " "


@pytest.mark.parametrize("field, limit", [("title", 300), ("publisher", 200), ("author", 200), ("url", 2000)])
def test_a_field_given_by_hand_over_its_limit_is_refused(settings: Settings, seeds: list[Path], field: str,
                                                         limit: int) -> None:
    value = "x" * (limit + 1)
    with pytest.raises(SourceError, match=rf"^the {field} is {limit + 1:,} characters; the limit is {limit:,}$"):
        add(str(seeds[0]), settings, **{field: value})
    assert not settings.sources_dir.exists()
    assert add(str(seeds[0]), settings, **{field: "x" * limit}).path.exists()  # the limit itself is fine


def test_long_fields_found_in_an_article_are_cut_between_words(settings: Settings, tmp_path: Path) -> None:
    front = f"---\ntitle: {LONG_TITLE}\npublisher: {'P ' * 500}\nurl: https://x.example/{'a' * 3000}\n---\n"
    source = read_source(add(write(tmp_path / "long.md", front + "Body text.\n"), settings).path, settings)
    assert cut_between_words(source.title)
    assert source.publisher is not None and len(source.publisher) <= 200 and source.url is None
    dropped = settings.sources_dir / "dropped.md"  # written by hand, never through `add`
    dropped.write_text(front + "Other text.\n", encoding="utf-8")
    assert cut_between_words(read_source(dropped, settings).title)


def test_a_long_first_line_or_html_title_is_cut(settings: Settings, tmp_path: Path) -> None:
    source = read_source(add(write(tmp_path / "a.txt", LONG_TITLE + ".\n\nBody.\n"), settings).path, settings)
    assert cut_between_words(source.title)
    page = f"<html><head><title>{LONG_TITLE}</title></head><body><article><p>{'Body text here. ' * 20}</p>" \
           "</article></body></html>"
    source = read_source(add(write(tmp_path / "b.html", page), settings).path, settings)
    assert cut_between_words(source.title)


# --- markdown ------------------------------------------------------------------------------


def test_markdown_with_front_matter_keeps_its_fields(settings: Settings, tmp_path: Path) -> None:
    md = write(tmp_path / "in.md", "---\ntitle: 'Budget: what it means'\npublisher: Daily Example\n"
                                   "published: 2023-01-02\nadded: '2025-05-05'\ntags: [a, b]\n---\n"
                                   "The budget was set today.\r\nIt was balanced.\n")
    source = read_source(add(md, settings, author="A. Writer", today=TODAY).path, settings)
    assert (source.title, source.publisher, source.author) == ("Budget: what it means", "Daily Example", "A. Writer")
    assert (source.published, source.added, source.url) == ("2023-01-02", "2025-05-05", None)
    assert source.text[source.body_start :] == "The budget was set today.\r\nIt was balanced.\n"


def test_markdown_front_matter_without_added_gets_today(settings: Settings, tmp_path: Path) -> None:
    md = write(tmp_path / "in.md", "---\ntitle: Short piece\n---\nOne sentence of news.\n")
    assert read_source(add(md, settings, today=TODAY).path, settings).added == "2026-11-24"


def test_markdown_without_front_matter_imports_like_text(settings: Settings, tmp_path: Path) -> None:
    md = write(tmp_path / "notes.md", "# Budget passes\n\nThe council passed its budget.\n")
    result = add(md, settings)
    assert read_source(result.path, settings).title == "Budget passes"
    assert body_of(result.path, settings) == "# Budget passes\n\nThe council passed its budget.\n"
    assert result.source_id == "budget-passes"


def test_hand_dropped_markdown_without_front_matter(settings: Settings) -> None:
    settings.sources_dir.mkdir()
    path = settings.sources_dir / "dropped.md"
    write(path, "\n  Café owners protest new rules in the old town  \n\nThey said so.\n")
    source = read_source(path, settings)
    assert (source.id, source.path, source.body_start) == ("dropped", "sources/dropped.md", 0)
    assert source.title == "Café owners protest new rules in the old town"
    assert (source.publisher, source.author, source.published, source.url, source.added) == (None,) * 5
    write(path, "word " * 100 + "\n\nBody.\n")
    assert len(read_source(path, settings).title) <= 200
    assert archive_paths(settings) == [path]


def test_short_headline_is_kept_and_labels_are_skipped(settings: Settings, tmp_path: Path) -> None:
    short = add(write(tmp_path / "a.txt", "Budget passes\n\nThe council passed its budget on Monday.\n"), settings)
    assert read_source(short.path, settings).title == "Budget passes"
    labelled = add(write(tmp_path / "b.txt", "News\nLOCAL POLITICS\nBudget passes again\n\nIt did.\n"), settings)
    assert read_source(labelled.path, settings).title == "Budget passes again"


def test_body_start_is_exact_with_non_ascii_title_and_crlf(settings: Settings, tmp_path: Path) -> None:
    body = "Ünïcödé “quoted” title — here 🎉\r\n\r\nSecond paragraph — with ‘quotes’.\r\n"
    result = add(write(tmp_path / "a.txt", body), settings, publisher="Zürich Zeitung")
    source = read_source(result.path, settings)
    assert source.text == result.path.read_bytes().decode("utf-8")
    assert source.text[source.body_start :] == body
    assert source.title == "Ünïcödé “quoted” title — here 🎉" and source.publisher == "Zürich Zeitung"


# --- HTML ----------------------------------------------------------------------------------


def test_html_import_extracts_article_and_metadata(settings: Settings, tmp_path: Path) -> None:
    page = write(tmp_path / "page.html", ARTICLE_HTML)
    source = read_source(add(page, settings, today=TODAY).path, settings)
    body = source.text[source.body_start :]
    assert "The council opened three family hubs on Tuesday" in body
    assert "“Families told us they wanted help before things reach crisis point,”" in body
    assert "- parenting classes for new mothers and fathers;\n- free debt and benefits advice." in body
    assert "\n\nThe hubs will be open six days a week" in body, "paragraphs are separated by a blank line"
    assert source.title == "Council opens three family hubs"
    assert (source.author, source.publisher, source.published) == ("Jane Reporter", "The Gazette", "2024-03-05")
    assert (source.url, source.added) == (CANONICAL, "2026-11-24")


def test_html_without_stated_metadata_leaves_fields_empty(settings: Settings, tmp_path: Path) -> None:
    bare = "\n".join(line for line in ARTICLE_HTML.splitlines()
                     if not any(tag in line for tag in ("<meta name=\"author", "published_time", "canonical", "og:")))
    source = read_source(add(write(tmp_path / "bare.htm", bare), settings).path, settings)
    # The footer's "© 2024" must not become a publication date, nor the domain a publisher.
    assert (source.published, source.url, source.publisher) == (None, None, None)
    assert source.author is not None and source.author.startswith("Jane Reporter")  # from the byline


def test_html_publisher_is_not_guessed_from_the_domain(settings: Settings, tmp_path: Path) -> None:
    no_site_name = "\n".join(line for line in ARTICLE_HTML.splitlines() if "og:site_name" not in line)
    source = read_source(add(write(tmp_path / "nosite.html", no_site_name), settings).path, settings)
    assert (source.publisher, source.url) == (None, CANONICAL)
    assert "The council opened three family hubs" in source.text


# --- URLs against a local server -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    release = threading.Event()  # set when the test ends, so a stalled answer finishes
    pages: dict[str, tuple[str, bytes]] = {
        "/article.html": ("text/html; charset=utf-8", ARTICLE_HTML.encode("utf-8")),
        "/nocanonical.html": ("text/html", ARTICLE_HTML.replace(CANONICAL, "").replace("Tuesday", "Friday").encode()),
        "/plain.txt": ("text/plain; charset=utf-8", b"Plain report headline\r\n\r\nIt rained all day.\n"),
        "/latin.txt": ("text/plain; charset=iso-8859-1", b"Caf\xe9 report\n\nIt was sunny.\n"),
        "/big.txt": ("text/plain", b"word " * 1200),
        "/report.pdf": ("application/pdf", b"%PDF-1.4 plain enough to pass the binary check\n"),
    }

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/slow":
            self.release.wait(5)
        elif self.path in ("/drip", "/drip-headers"):
            self._drip(self.path == "/drip-headers")
        elif self.path == "/stream":  # no Content-Length: the body ends when the connection closes
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"word " * 1200)
        elif self.path == "/to-localhost":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/plain.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:9/a.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/plain.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in self.pages:
            kind, data = self.pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_error(404, "Not Found")

    def _drip(self, headers: bool) -> None:
        """One byte every 2 s (of the headers, or of a body after them) until the test ends or the client goes."""
        head = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
        data = head + b"x" * 100 if headers else b"x" * 100
        if not headers:
            self.wfile.write(head)
        try:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if self.release.wait(2):
                    return
        except OSError:
            return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.release.clear()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_url_html_page_is_extracted(settings: Settings, server: str) -> None:
    source = read_source(add(f"{server}/article.html", settings, allow_private=True).path, settings)
    assert "The council opened three family hubs on Tuesday" in source.text[source.body_start :]
    assert (source.author, source.publisher, source.url) == ("Jane Reporter", "The Gazette", CANONICAL)
    other = read_source(add(f"{server}/nocanonical.html", settings, title="Second copy", allow_private=True).path, settings)
    assert other.url == f"{server}/nocanonical.html"


def test_url_plain_text_is_kept_as_received(settings: Settings, server: str) -> None:
    result = add(f"{server}/plain.txt", settings, allow_private=True)
    source = read_source(result.path, settings)
    assert source.text[source.body_start :] == "Plain report headline\r\n\r\nIt rained all day.\n"
    assert (source.title, source.url, result.warnings) == ("Plain report headline", f"{server}/plain.txt", ())


def test_url_declared_charset_is_used_without_warning(settings: Settings, server: str) -> None:
    result = add(f"{server}/latin.txt", settings, allow_private=True)
    assert result.warnings == () and read_source(result.path, settings).title == "Café report"


def test_url_redirect_records_where_the_article_is(settings: Settings, server: str) -> None:
    assert read_source(add(f"{server}/moved", settings, allow_private=True).path, settings).url == f"{server}/plain.txt"


@pytest.mark.parametrize("path", ["/plain.txt", "/moved"])
def test_url_on_loopback_is_refused_without_allow_private(settings: Settings, server: str, path: str) -> None:
    with pytest.raises(SourceError) as info:
        add(f"{server}{path}", settings)
    assert str(info.value) == (f"could not fetch URL {server}{path}: 127.0.0.1 is at 127.0.0.1, a loopback address; "
                               "pass --allow-private to import from it")
    assert not settings.sources_dir.exists()


def test_redirect_to_a_private_address_is_refused(settings: Settings, server: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    check = _fetch._check_public
    # 127.0.0.1 passes as if it were public; where it redirects (localhost) is checked like any host.
    monkeypatch.setattr(_fetch, "_check_public", lambda host, ip: None if host == "127.0.0.1" else check(host, ip))
    with pytest.raises(SourceError, match=r"localhost is at (127\.0\.0\.1|::1), a loopback address; pass --allow"):
        add(f"{server}/to-localhost", settings)
    assert read_source(add(f"{server}/to-localhost", settings, allow_private=True).path, settings).title == \
        "Plain report headline"


@pytest.mark.parametrize("address, kind", [("10.1.2.3", "private"), ("192.168.0.9", "private"),
                                           ("169.254.169.254", "link-local"), ("::1", "loopback"),
                                           ("::ffff:127.0.0.1", "loopback"), ("fe80::1", "link-local"),
                                           ("240.0.0.1", "reserved"), ("0.0.0.0", "private"),
                                           ("100.64.0.1", "non-public"), ("fc00::1", "private")])
def test_every_kind_of_internal_address_is_refused(address: str, kind: str) -> None:
    with pytest.raises(_fetch._Refused, match=f", an? {kind} address;"):
        _fetch._check_public("host.example", address)
    _fetch._check_public("host.example", "93.184.215.14")  # a public address passes


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_server_sending_a_byte_every_2_s_is_cut_off_at_the_deadline(settings: Settings, server: str,
                                                                      path: str) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        add(f"{server}{path}", settings.replace(fetch_deadline=1.0), allow_private=True)
    assert str(info.value) == (f"could not fetch URL {server}{path}: not done within the 1 s deadline "
                               "(ASSISTANT_FETCH_DEADLINE)")
    assert time.monotonic() - started < 4  # without the deadline: 100 bytes, 200 s
    assert not settings.sources_dir.exists()


def test_a_download_without_a_declared_size_stops_at_the_limit(settings: Settings, server: str) -> None:
    with pytest.raises(SourceError, match=r"/stream: the page is over the 5,000-byte limit$"):
        add(f"{server}/stream", settings.replace(max_file_bytes=5_000), allow_private=True)
    assert add(f"{server}/stream", settings.replace(max_file_bytes=6_000), allow_private=True).path.is_file()


# --- bad input -----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BAD_INPUTS: list[tuple[str, Callable[[Path, str], str], str]] = [
    ("missing", lambda tmp, srv: str(tmp / "nope.txt"), "no such file"),
    ("folder", lambda tmp, srv: str(tmp), "is a folder"),
    ("empty", lambda tmp, srv: write(tmp / "empty.txt", b""), "is empty"),
    ("blank", lambda tmp, srv: write(tmp / "blank.md", b"  \r\n\n \t\n"), "is empty"),
    ("nul byte", lambda tmp, srv: write(tmp / "nul.txt", b"Some text. " * 300 + b"\x00"), "binary"),
    ("control bytes", lambda tmp, srv: write(tmp / "ctl.txt", bytes(range(1, 9)) * 50), "binary"),
    ("too big", lambda tmp, srv: write(tmp / "big.txt", b"word " * 2000), "over the 5,000-byte limit"),
    ("extension", lambda tmp, srv: write(tmp / "a.pdf", b"%PDF-1.4"), "use one of .txt, .md, .html, .htm"),
    ("no extension", lambda tmp, srv: write(tmp / "README", b"Text.\n"), "unsupported file type"),
    ("unclosed", lambda tmp, srv: write(tmp / "open.md", b"---\ntitle: X\nBody.\n"), "never closed"),
    ("bad yaml", lambda tmp, srv: write(tmp / "bad.md", b"---\ntitle: [unclosed\n---\nBody.\n"), "not valid YAML"),
    ("not a mapping", lambda tmp, srv: write(tmp / "list.md", b"---\n- a\n- b\n---\nBody.\n"), "field: value"),
    ("number title", lambda tmp, srv: write(tmp / "num.md", b"---\ntitle: 42\n---\nBody.\n"), "must be text"),
    ("list title", lambda tmp, srv: write(tmp / "lst.md", b"---\ntitle: [a]\n---\nBody.\n"), "must be text"),
    ("bad date", lambda tmp, srv: write(tmp / "d.md", b"---\npublished: last week\n---\nBody.\n"), "not a date"),
    ("no such day", lambda tmp, srv: write(tmp / "e.md", b"---\nadded: '2021-02-30'\n---\nBody.\n"), "not a date"),
    ("no body", lambda tmp, srv: write(tmp / "f.md", b"---\ntitle: X\n---\n\n"), "no article text"),
    ("html no text", lambda tmp, srv: write(tmp / "g.html", b"<html><body><nav></nav></body></html>"),
     "no article text found in"),
    ("http 404", lambda tmp, srv: f"{srv}/missing.html", "could not fetch URL"),
    ("refused", lambda tmp, srv: f"http://127.0.0.1:{_closed_port()}/a.html", "could not fetch URL"),
    ("timeout", lambda tmp, srv: f"{srv}/slow", "no answer within"),
    ("big download", lambda tmp, srv: f"{srv}/big.txt", "over the 5,000-byte limit"),
    ("pdf download", lambda tmp, srv: f"{srv}/report.pdf", "application/pdf"),
    ("ftp", lambda tmp, srv: "ftp://127.0.0.1/a.txt", "only http and https"),
    ("redirect to ftp", lambda tmp, srv: f"{srv}/to-ftp", "not http(s)"),
]


@pytest.mark.parametrize("make_item, expected", [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_one_line_and_changes_nothing(settings: Settings, seeds: list[Path], tmp_path: Path,
                                                     server: str, monkeypatch: pytest.MonkeyPatch,
                                                     make_item: Callable[[Path, str], str], expected: str) -> None:
    monkeypatch.setattr(_fetch, "TIMEOUT", 0.3)
    settings = settings.replace(max_file_bytes=5_000)
    add(str(seeds[2]), settings.replace(max_file_bytes=1_000_000))
    before = snapshot(settings.sources_dir)
    item = make_item(tmp_path, server)
    with pytest.raises(SourceError) as info:
        add(item, settings, allow_private=True)  # the test server is on loopback
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert item in message
    assert not isinstance(info.value, DuplicateSourceError)
    assert snapshot(settings.sources_dir) == before


def test_bad_input_leaves_a_missing_archive_missing(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        add(write(tmp_path / "empty.txt", b""), settings)
    assert not settings.sources_dir.exists()


def test_bad_published_override_is_refused_before_reading(settings: Settings, seeds: list[Path]) -> None:
    with pytest.raises(SourceError, match=r"^published date '17/06/2021' is not a date like 2021-06-17$"):
        add(str(seeds[0]), settings, published="17/06/2021")
    assert not settings.sources_dir.exists()


def test_failed_write_leaves_no_trace(settings: Settings, seeds: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SourceError, match=r"^cannot write sources/childrens-social-care-a-tower-of-jenga-held-together-with\.md: "
                                          r"No space left on device$"):
        add(str(seeds[0]), settings)
    assert snapshot(settings.sources_dir) == {}


def test_non_utf8_text_is_read_with_a_warning(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "old.txt", b"caf\xe9 \x93quoted\x94 headline\n\nThey said \x93no\x94.\n")
    result = add(path, settings)
    assert result.warnings == (f"{path} is not UTF-8; read as cp1252",)
    source = read_source(result.path, settings)
    assert source.title == "café “quoted” headline"
    assert source.text[source.body_start :] == "café “quoted” headline\n\nThey said “no”.\n"


def test_bytes_cp1252_leaves_undefined_are_read_as_latin1(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "odd.txt", b"Headline with \x81 odd byte and \xe9\n")
    assert add(path, settings).warnings == (f"{path} is not UTF-8; read as latin-1",)


def test_utf16_with_byte_order_mark_is_text(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "notepad.txt", "Headline in UTF-16\r\n\r\nBody “text”.\r\n".encode("utf-16"))
    result = add(path, settings)
    assert result.warnings == ()
    assert body_of(result.path, settings) == "Headline in UTF-16\r\n\r\nBody “text”.\r\n"


# --- reading the archive -------------------------------------------------------------------


@pytest.mark.parametrize("content, expected", [
    (b"---\ntitle: X\n", "never closed"),
    (b"---\ntitle: 'X\n---\nBody.\n", "not valid YAML (line"),
    (b"---\njust a string\n---\nBody.\n", "not a str"),
    (b"---\ntitle: true\n---\nBody.\n", "'title' must be text, not bool"),
    (b"---\ntitle: X\npublished: 17 June 2021\n---\nBody.\n", "published '17 June 2021' is not a date"),
    (b"---\ntitle: caf\xe9\n---\nBody.\n", "is not UTF-8"),
])
def test_read_source_refuses_malformed_files(settings: Settings, content: bytes, expected: str) -> None:
    settings.sources_dir.mkdir()
    path = settings.sources_dir / "broken.md"
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        read_source(path, settings)
    assert expected in str(info.value) and "sources/broken.md" in str(info.value)
    assert "\n" not in str(info.value)


def test_read_source_accepts_unquoted_dates_and_a_byte_order_mark(settings: Settings) -> None:
    settings.sources_dir.mkdir()
    path = settings.sources_dir / "bom.md"
    text = "\ufeff---\ntitle: T\npublished: 2021-06-17\n---\nBody.\n"
    write(path, text)
    source = read_source(path, settings)
    assert (source.title, source.published, source.text[source.body_start :]) == ("T", "2021-06-17", "Body.\n")


def test_archive_paths_lists_only_articles(settings: Settings) -> None:
    folder = settings.sources_dir
    assert archive_paths(settings) == []
    folder.mkdir()
    for name in ("b.md", "a.md", "README.md", ".hidden.md", ".x.tmp", "c.md.tmp", "notes.txt"):
        write(folder / name, "Text.\n")
    (folder / "sub.md").mkdir()
    assert archive_paths(settings) == [folder / "a.md", folder / "b.md"]


# --- duplicates and names ------------------------------------------------------------------


def test_exact_duplicate_is_skipped_naming_the_original(settings: Settings, seeds: list[Path], tmp_path: Path) -> None:
    original = add(str(seeds[0]), settings)
    before = snapshot(settings.sources_dir)
    reflowed = "\n\n" + seeds[0].read_text(encoding="utf-8").replace("\n\n", "\r\n \r\n").replace(" ", "  ") + "\t\n"
    for copy in (write(tmp_path / "copy.txt", reflowed),
                 write(tmp_path / "copy.md", "---\ntitle: Other title\n---\n" + reflowed)):
        with pytest.raises(DuplicateSourceError) as info:
            add(copy, settings, title="Different title")
        assert str(info.value) == f"{copy} duplicates sources/{original.source_id}.md; skipped"
        assert info.value.existing_path == f"sources/{original.source_id}.md"
    assert snapshot(settings.sources_dir) == before


def test_same_story_from_another_outlet_is_a_separate_source(settings: Settings, seeds: list[Path],
                                                             tmp_path: Path) -> None:
    # Seeds 0 and 4 report the same review with the same quotes, in different words.
    first, second = add(str(seeds[0]), settings), add(str(seeds[4]), settings)
    text = seeds[0].read_text(encoding="utf-8")
    rewritten = add(write(tmp_path / "syndicated.txt", text.replace("a review has found", "a report says")), settings)
    assert len({first.path, second.path, rewritten.path}) == 3
    assert len(archive_paths(settings)) == 3


def test_body_hash_ignores_only_white_space() -> None:
    assert body_hash("A  quote.\r\n\r\nNext ") == body_hash("\nA quote. Next")
    assert body_hash("A quote.") != body_hash("A quote!")


def test_slug_collision_gets_a_number(settings: Settings, tmp_path: Path) -> None:
    names = []
    for n, body in enumerate(["One story here. It is short.\n", "Other words. Still short.\n", "Third.\n"]):
        names.append(add(write(tmp_path / f"{n}.txt", body), settings, title="Same headline for both").path.name)
    assert names == ["same-headline-for-both.md", "same-headline-for-both-2.md", "same-headline-for-both-3.md"]
    readme = add(write(tmp_path / "r.txt", "README\n\nA story titled readme.\n"), settings, title="Readme")
    assert readme.path.name == "readme-2.md" and readme.path in archive_paths(settings)


@pytest.mark.parametrize("title, slug", [
    ("Children’s social care: a ‘tower of Jenga’", "childrens-social-care-a-tower-of-jenga"),
    ("Café—Zürich’s “best” ﬁnds, 2024!", "cafe-zurichs-best-finds-2024"),
    ("Straße in Köln", "strasse-in-koln"),
    ("!!!", "article"),
    ("", "article"),
    ("a" * 80, "a" * 60),
])
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_slug_is_cut_between_words() -> None:
    title = "Independent review of children’s social care concludes Children and families are not getting"
    slug = slugify(title)
    assert slug == "independent-review-of-childrens-social-care-concludes"
    assert len(slug) <= 60 and slugify(title, limit=10) == "independent"[:10]


@pytest.mark.parametrize("name", ["story.txt", "STORY.TXT", "story.md", "story.Md", "story.html", "story.HTM"])
def test_every_supported_type_is_imported_whatever_the_case_of_its_suffix(settings: Settings, tmp_path: Path,
                                                                          name: str) -> None:
    assert Path(name).suffix.lower() in SUPPORTED
    html = Path(name).suffix.lower() in (".html", ".htm")
    result = add(write(tmp_path / name, ARTICLE_HTML if html else "Harbour plan\n\nThe harbour will reopen in May.\n"),
                 settings)
    body = body_of(result.path, settings)
    assert ("family hubs" if html else "The harbour will reopen in May.") in body
    assert "<" not in body  # HTML is extracted, not kept as markup
    assert archive_paths(settings) == [result.path]


def test_article_is_written_through_a_synced_temporary_file(settings: Settings, seeds: list[Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync",))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append(("replace", str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = add(str(seeds[0]), settings).path
    assert [call[0] for call in calls] == ["fsync", "replace"] and calls[1][2] == str(path)
    assert Path(calls[1][1]).parent == settings.sources_dir and calls[1][1].endswith(".tmp")
    assert snapshot(settings.sources_dir).keys() == {path.name}


def test_remove_moves_articles_out_and_the_cli_checks_every_id_first(archive: Settings) -> None:
    import json

    from click.testing import CliRunner

    from assistant.cli import cli
    from assistant.sources import remove

    ids = [p.stem for p in archive_paths(archive)]
    runner = CliRunner()
    result = runner.invoke(cli, ["--root", str(archive.root), "remove", "--no-index", ids[0], "missing"])
    assert result.exit_code == 1 and "no article 'missing'" in result.output
    assert len(archive_paths(archive)) == 5  # nothing moved
    result = runner.invoke(cli, ["--root", str(archive.root), "remove", "--no-index", "--json", ids[0]])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["removed"] == {ids[0]: f"sources/.removed/{ids[0]}.md"}
    kept = archive.sources_dir / ".removed" / f"{ids[0]}.md"
    (archive.sources_dir / f"{ids[0]}.md").write_bytes(kept.read_bytes())
    assert remove(ids[0], archive).name == f"{ids[0]}-2.md"  # an earlier removal is never overwritten
    assert [p.stem for p in archive_paths(archive)] == ids[1:]


# --- text quality ---------------------------------------------------------------------------
def test_one_stray_byte_leaves_the_rest_of_a_utf8_file_as_written(settings: Settings, tmp_path: Path) -> None:
    text = "The council’s plan — “a new deal” for Zoë’s family.\n\nIt costs £10 million.\n"
    path = write(tmp_path / "stray.txt", text.encode() + b"Caf\xe9 owners agreed.\n")
    result = add(path, settings)
    assert result.warnings == (f"{path} is UTF-8 but for 1 stray byte(s); read those as cp1252",)
    assert body_of(result.path, settings) == text + "Café owners agreed.\n"


def test_mojibake_is_repaired(settings: Settings, tmp_path: Path) -> None:
    # "council’s" once read as latin-1 and saved again as UTF-8
    path = write(tmp_path / "moji.txt", "The council\u00e2\u0080\u0099s plan was \u00e2\u0080\u009cbold\u00e2\u0080\u009d.\n")
    result = add(path, settings)
    assert body_of(result.path, settings) == "The council’s plan was “bold”.\n"
    assert result.warnings == (f"{path} had mis-decoded characters (mojibake); repaired",)


def test_a_legacy_encoding_that_is_not_western_is_detected(settings: Settings, tmp_path: Path) -> None:
    text = "Совет заявил, что план будет опубликован в понедельник. Дети и семьи получат помощь.\n"
    path = write(tmp_path / "ru.txt", text.encode("cp1251"))
    result = add(path, settings)
    assert body_of(result.path, settings) == text and result.warnings == (f"{path} is not UTF-8; read as cp1251",)


@pytest.mark.parametrize("page", [
    "<!DOCTYPE html>\n<html><head><title>Hubs open</title></head><body><article><p>{}</p></article></body></html>",
    "\ufeff<html lang=en><body><article><p>{}</p></article></body></html>",
    '<div class="a"><span></span><article><h1>Hubs open</h1><p>{}</p></article><footer><a href="/">x</a></footer>'
    '<nav><ul><li><a href="/a">a</a></li><li><a href="/b">b</a></li></ul></nav></div>',
])
def test_html_saved_as_txt_is_extracted(settings: Settings, tmp_path: Path, page: str) -> None:
    prose = "The Ashbourne hubs supported 1,284 families in their first year, the council said."
    source = read_source(add(write(tmp_path / "page.txt", page.format(prose)), settings).path, settings)
    body = source.text[source.body_start :]
    assert prose in body and "<" not in body


def test_text_mentioning_tags_stays_text(settings: Settings, tmp_path: Path) -> None:
    text = "Headline\n\nThe site used <b>bold</b> and <i>italic</i> tags, the council's web team said at length.\n"
    assert body_of(add(write(tmp_path / "t.txt", text), settings).path, settings) == text


BIDI = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f"


def test_bidi_controls_are_taken_out_of_titles_and_metadata(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "b.md", f"---\ntitle: \"Safe {BIDI}title\"\nauthor: \"A{BIDI}n\"\n---\nBody {BIDI} text.\n")
    source = read_source(add(path, settings, publisher=f"\u202eGazette").path, settings)
    assert (source.title, source.author, source.publisher) == ("Safe title", "An", "Gazette")
    assert BIDI in source.text[source.body_start :]  # the article text itself is archived as it was
    first_line = read_source(add(write(tmp_path / "c.txt", f"\u202eHeadline here\n\nMore {BIDI}.\n"), settings).path,
                             settings)
    assert first_line.title == "Headline here"


def test_archive_files_are_readable_by_all(settings: Settings, seeds: list[Path]) -> None:
    old = os.umask(0o022)
    try:
        path = add(str(seeds[0]), settings).path
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_temporary_files_of_a_killed_import_are_removed(settings: Settings, seeds: list[Path]) -> None:
    import time as _time

    from assistant.session import Assistant
    from conftest import FAKE_MODEL, HashEncoder

    settings.sources_dir.mkdir()
    stale, fresh = settings.sources_dir / ".abc123.tmp", settings.sources_dir / ".def456.tmp"
    for tmp in (stale, fresh):
        tmp.write_text("---\ntitle: half\n", encoding="utf-8")
    hour_ago = _time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    add(str(seeds[0]), settings)
    assert not stale.exists() and fresh.exists()  # a new one may be another import's, still being written
    os.utime(fresh, (hour_ago, hour_ago))
    Assistant(settings.replace(model=FAKE_MODEL), HashEncoder()).update()
    assert not fresh.exists()


def test_the_cli_refuses_a_loopback_url_in_one_line_unless_allowed(settings: Settings, server: str) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    runner = CliRunner()
    base = ["--root", str(settings.root), "add", "--no-index"]
    refused = runner.invoke(cli, [*base, f"{server}/article.html"])
    assert refused.exit_code == 1 and "--allow-private" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and archive_paths(settings) == []
    allowed = runner.invoke(cli, [*base, "--allow-private", f"{server}/article.html"])
    assert allowed.exit_code == 0, allowed.output
    assert len(archive_paths(settings)) == 1

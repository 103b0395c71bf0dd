"""The article archive: ``sources/<id>.md`` files with YAML front matter, and importing into it."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import DuplicateSourceError, SourceError
from ..types import Source
from . import frontmatter
from .encoding import decode
from .fetch import fetch_url, read_file
from .html import from_html, looks_like_html

SUPPORTED = (".txt", ".md", ".html", ".htm")
TITLE_MAX = 200  # of a title guessed from the first line; one stated by the article may be longer
SLUG_MAX = 60
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_APOSTROPHES = re.compile(r"['’‘ʼ`]")
_HEADING_MARK = re.compile(r"#{1,6}\s+")
_MAX_LABELS = 3
STALE_AFTER = 600.0  # seconds: a temporary file this old was left by an import that was killed
FILE_MODE = 0o644  # archive files are readable by everyone who can read the folder, like any article


@dataclass(frozen=True, slots=True)
class AddResult:
    """An article written to the archive."""

    path: Path
    source_id: str
    warnings: tuple[str, ...] = ()  # one line each, e.g. "old.txt is not UTF-8; read as cp1252"


def archive_paths(settings: Settings) -> list[Path]:
    """The archived articles: ``sources/*.md`` except README.md and hidden files, sorted."""
    folder = settings.sources_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.md")
                  if p.is_file() and not p.name.startswith(".") and p.name.lower() != "readme.md")


def readable_sources(settings: Settings, on_error: Callable[[SourceError], None] | None = None) -> Iterator[Source]:
    """The archived articles that can be read, in ``archive_paths`` order.

    Args:
        settings: Where the archive is.
        on_error: Called with the error of each file that cannot be read (default: skip it quietly).
    """
    for path in archive_paths(settings):
        try:
            yield read_source(path, settings)
        except SourceError as exc:
            if on_error is not None:
                on_error(exc)


def read_source(path: Path, settings: Settings) -> Source:
    """Parse one archived file.

    A file without front matter (dropped in by hand) is accepted: its title is its first
    line and its other fields are None.

    Args:
        path: A file in the archive.
        settings: Used to make ``Source.path`` relative to the project root.

    Returns:
        The article; ``text`` is the whole file and ``text[body_start:]`` its body.

    Raises:
        SourceError: the file cannot be read, is not UTF-8, or has malformed front matter.
    """
    name = settings.relative(path)
    try:
        # Bytes decoded by hand, not text mode: offsets must count a "\r\n" as two characters.
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{name} is not UTF-8 text; import the original with `assistant add`") from None
    except OSError as exc:
        raise SourceError(f"cannot read {name}: {exc.strerror or exc}") from None
    meta, body_start = frontmatter.parse(text, name)
    title = meta["title"] or _guess_title(text[body_start:]) or Path(path).stem
    return Source(id=Path(path).stem, path=name, title=title, publisher=meta["publisher"],
                  author=meta["author"], published=meta["published"], url=meta["url"], added=meta["added"],
                  body_start=body_start, text=text)


def body_hash(text: str) -> str:
    """Hash of an article body with runs of white space collapsed: equal for exact copies."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def add(item: str, settings: Settings, *, title: str | None = None, publisher: str | None = None,
        author: str | None = None, published: str | None = None, url: str | None = None,
        today: date | None = None, allow_private: bool = False, known: dict[str, str] | None = None) -> AddResult:
    """Import one file (.txt, .md, .html, .htm) or http(s) URL into the archive.

    Args:
        item: A file path or an http(s) URL.
        settings: Where the archive is, and the largest article accepted.
        title: Title instead of the one found in the article. Default: the article's own
            (front matter or HTML metadata), else its first line.
        publisher: Publisher instead of the one found. Default: found, else empty.
        author: Author instead of the one found. Default: found, else empty.
        published: Publication date, YYYY-MM-DD. Default: found, else empty.
        url: Where the article was published. Default: found, else the URL fetched.
        today: The ``added`` date. Default: today (kept from an imported .md if it has one).
        allow_private: Also download from loopback, private, link-local and reserved addresses.
            Default False: a URL whose host resolves to one is refused.
        known: For many imports in a row: ``body_hashes(settings)``, made once by the caller (who also
            calls ``remove_stale_files`` once) and kept up to date here, so the archive is not read
            again for each item. Default: read it now.

    Returns:
        The written file, its source id and any warnings (e.g. a non-UTF-8 file).

    Raises:
        SourceError: the input cannot be imported; the one-line message says why.
        DuplicateSourceError: the same text is archived already.
        Nothing in the archive changes when either is raised.
    """
    if known is None:
        remove_stale_files(settings)
    given = {"title": title, "publisher": publisher, "author": author, "published": published, "url": url}
    given = {key: frontmatter.check_length(key, frontmatter.clean_value(value)) for key, value in given.items()}
    if given["published"]:
        frontmatter.check_date(given["published"], "published date")
    if _URL.match(item):
        meta, body, warnings = _from_url(item, settings, allow_private)
    else:
        meta, body, warnings = _from_file(Path(item), settings)
    meta.update({key: value for key, value in given.items() if value})
    archived = body_hashes(settings) if known is None else known
    wanted = body_hash(body)
    if wanted in archived:
        raise DuplicateSourceError(f"{item} duplicates {archived[wanted]}; skipped", existing_path=archived[wanted])
    meta["title"] = meta.get("title") or _guess_title(body) or "Untitled"
    meta["added"] = meta.get("added") or (today or date.today()).isoformat()
    path = _write(settings, meta, body)
    archived[wanted] = settings.relative(path)
    return AddResult(path, path.stem, tuple(warnings))


def _from_file(path: Path, settings: Settings) -> tuple[dict[str, Any], str, list[str]]:
    """Metadata, body and warnings of an article file."""
    text, warnings = decode(read_file(path, settings.max_file_bytes, SUPPORTED), str(path))
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm") or suffix == ".txt" and looks_like_html(text):
        meta, body = from_html(text, str(path))
    elif suffix == ".md":
        meta, start = frontmatter.parse(text, str(path))
        body = text[start:]
    else:
        meta, body = {}, text
    if not body.strip():
        raise SourceError(f"{path} has no article text after its front matter")
    return meta, body, warnings


def _from_url(url: str, settings: Settings, allow_private: bool) -> tuple[dict[str, Any], str, list[str]]:
    """Metadata, body and warnings of a page fetched over http(s)."""
    page = fetch_url(url, settings.max_file_bytes, deadline=settings.fetch_deadline, allow_private=allow_private)
    text, warnings = decode(page.data, url, page.charset)
    looks_html = not page.media_type and text.lstrip()[:1] == "<"
    if page.media_type in _HTML_TYPES or looks_html:
        meta, body = from_html(text, url, page.url)
    elif page.media_type.startswith("text/") or not page.media_type:
        meta, body = {}, text
    else:
        raise SourceError(f"cannot import {url}: it is {page.media_type}, not an article page or plain text")
    meta["url"] = meta.get("url") or page.url
    return meta, body, warnings


def body_hashes(settings: Settings) -> dict[str, str]:
    """``body_hash`` of every readable archived article -> its path relative to the project root."""
    # A damaged file cannot be compared; the index step reports it.
    hashes: dict[str, str] = {}
    for source in readable_sources(settings):
        hashes.setdefault(body_hash(source.text[source.body_start :]), source.path)
    return hashes


def _guess_title(text: str) -> str | None:
    """The headline: the first non-blank line, skipping up to three section labels before it.

    Copied web pages often open with a label: a lone word ("Title") or a line in capitals
    ("CHILDREN'S SERVICES"). Markdown heading marks are dropped.
    """
    lines = (_HEADING_MARK.sub("", line.strip(), count=1) for line in text.splitlines())
    first = list(itertools.islice((line for line in lines if line), _MAX_LABELS + 1))
    if not first:
        return None
    labels = itertools.takewhile(_is_label, first[:-1])
    return frontmatter.bounded("title", frontmatter.clean_value(first[sum(1 for _ in labels)]), TITLE_MAX)


def _is_label(line: str) -> bool:
    return len(line.split()) == 1 or not any(char.islower() for char in line)


def slugify(title: str, limit: int = SLUG_MAX) -> str:
    """File-name id from a title: ASCII, lower case, words joined by '-', at most ``limit`` chars.

    Apostrophes are dropped ("Children’s" -> "childrens"); the cut falls between words.
    Falls back to "article" when nothing is left.
    """
    folded = unicodedata.normalize("NFKD", _APOSTROPHES.sub("", title).casefold())
    words = re.findall(r"[a-z0-9]+", "".join(c for c in folded if not unicodedata.combining(c)))
    slug = words[0][:limit] if words else "article"
    for word in words[1:]:
        if len(slug) + 1 + len(word) > limit:
            break
        slug = f"{slug}-{word}"
    return slug


def _write(settings: Settings, meta: dict[str, Any], body: str) -> Path:
    """Write the article under a free name, atomically: readers see all of it or none."""
    folder = settings.sources_dir
    folder.mkdir(parents=True, exist_ok=True)
    slug = slugify(meta["title"])
    # readme.md would be skipped by archive_paths, so that name is never used.
    names = (f"{slug}.md" if n == 1 else f"{slug}-{n}.md" for n in itertools.count(1))
    path = next(folder / name for name in names if not (folder / name).exists() and name != "readme.md")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            os.fchmod(out.fileno(), FILE_MODE)  # mkstemp makes it 0600
            out.write(frontmatter.render(meta, body))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SourceError(f"cannot write {settings.relative(path)}: {exc.strerror or exc}") from None
    except BaseException:  # e.g. Ctrl-C: still leave no temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_files(settings: Settings, now: float | None = None) -> list[Path]:
    """Delete ``sources/.*.tmp`` files older than ``STALE_AFTER`` seconds; returns them.

    A newer one may belong to an import running right now, so it is left alone.
    """
    folder = settings.sources_dir
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for tmp in folder.glob(".*.tmp"):
        try:
            if tmp.is_file() and now - tmp.stat().st_mtime > STALE_AFTER:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue  # gone already, or not ours to delete: the next import tries again
    return removed

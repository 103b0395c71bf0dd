"""The article archive: ``sources/<id>.md`` files with YAML front matter, and importing into it."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ._fetch import fetch_url
from .config import Settings
from .errors import DuplicateSourceError, SourceError
from .types import Source

SUPPORTED = (".txt", ".md", ".html", ".htm")
FIELDS = ("title", "publisher", "author", "published", "url", "added")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class AddResult:
    """An article written to the archive."""

    path: Path
    source_id: str
    warnings: tuple[str, ...] = ()


def archive_paths(settings: Settings) -> list[Path]:
    """The archived articles: ``sources/*.md`` but README.md and hidden files, sorted."""
    folder = settings.sources_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.md") if p.is_file() and not p.name.startswith(".") and p.name != "README.md")


def read_source(path: Path, settings: Settings) -> Source:
    """Parse one archived file. A file without front matter takes its first line as title.

    Raises:
        SourceError: the file is not UTF-8 or its front matter is malformed.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path.name} is not UTF-8 text; re-import it with `assistant add`") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror}") from None
    meta, body_start = parse_front_matter(text, path.name)
    title = meta.get("title") or _first_line(text[body_start:]) or path.stem
    return Source(id=path.stem, path=settings.relative(path), title=title, body_start=body_start, text=text,
                  **{k: meta.get(k) for k in FIELDS if k != "title"})


def parse_front_matter(text: str, name: str) -> tuple[dict[str, Any], int]:
    """The front matter's fields and the offset where the body starts (0 without front matter).

    Raises:
        SourceError: unterminated block, invalid YAML, or fields of the wrong type.
    """
    if not re.match(r"---[ \t]*\r?\n", text):
        return {}, 0
    match = _FRONT.match(text)
    if match is None:
        raise SourceError(f"{name}: front matter opened with --- is never closed")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        raise SourceError(f"{name}: front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise SourceError(f"{name}: front matter must be 'key: value' lines")
    return _check_fields(meta, name), match.end()


def _check_fields(meta: dict[str, Any], name: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in FIELDS:
        value = meta.get(key)
        if isinstance(value, date):
            value = value.isoformat()
        if value is not None and not isinstance(value, str):
            raise SourceError(f"{name}: front matter field {key!r} must be text, not {type(value).__name__}")
        if key in ("published", "added") and value and not _ISO_DATE.fullmatch(value):
            raise SourceError(f"{name}: {key} {value!r} is not a date like 2021-06-17")
        clean[key] = value.strip() if isinstance(value, str) and value.strip() else None
    return clean


def body_hash(text: str) -> str:
    """Hash of an article body with white space normalised: equal for exact copies."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def add(item: str, settings: Settings, *, today: date | None = None, **overrides: str | None) -> AddResult:
    """Import one file (.txt, .md, .html, .htm) or http(s) URL into the archive.

    Args:
        item: A file path or URL.
        settings: Where the archive is, and the size limit.
        today: The ``added`` date. Default: today.
        **overrides: Metadata that wins over what the article states (title, publisher,
            author, published, url); None values are ignored.

    Returns:
        The written file.

    Raises:
        SourceError: the input cannot be imported (the message says why); nothing is written.
        DuplicateSourceError: the same text is archived already.
    """
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", item):
        meta, body, warnings = _from_url(item, settings)
    else:
        meta, body, warnings = _from_file(Path(item), settings)
    meta.update({k: v for k, v in overrides.items() if v is not None})
    if meta.get("published") and not _ISO_DATE.fullmatch(str(meta["published"])):
        raise SourceError(f"published date {meta['published']!r} is not like 2021-06-17")
    if not body.strip():
        raise SourceError(f"{item} has no article text")
    _refuse_duplicate(body, item, settings)
    meta["title"] = meta.get("title") or _first_line(body) or "Untitled"
    meta["added"] = meta.get("added") or (today or date.today()).isoformat()
    path = _write(settings, meta, body)
    return AddResult(path, path.stem, tuple(warnings))


def _from_file(path: Path, settings: Settings) -> tuple[dict[str, Any], str, list[str]]:
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path} is a folder; give the article files themselves")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise SourceError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; use one of {', '.join(SUPPORTED)}")
    size = path.stat().st_size
    if size > settings.max_file_bytes:
        raise SourceError(f"{path.name} is {size:,} bytes, over the {settings.max_file_bytes:,}-byte limit")
    text, warnings = decode(path.read_bytes(), path.name)
    if suffix in (".html", ".htm"):
        meta, body = _from_html(text, path.name)
        return meta, body, warnings
    if suffix == ".md":
        meta, start = parse_front_matter(text, path.name)
        return meta, text[start:], warnings
    return {}, text, warnings


def decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """Text of an imported file: UTF-8, else cp1252 or latin-1 with a warning.

    Raises:
        SourceError: the file is empty or binary.
    """
    if not data.strip():
        raise SourceError(f"{name} is empty")
    sample = data[:8192]
    controls = sum(b < 32 and b not in b"\t\n\r\f" for b in sample)
    if b"\x00" in sample or controls > len(sample) * 0.05:
        raise SourceError(f"{name} looks like a binary file, not article text")
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"), []
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            return data.decode(encoding), [f"{name} is not UTF-8; read it as {encoding}"]
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _from_html(html: str, name: str) -> tuple[dict[str, Any], str]:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, favor_precision=False)
    body = (getattr(doc, "text", None) or "") if doc is not None else ""
    if not body.strip():
        raise SourceError(f"{name}: no article text found in the HTML")
    meta = {
        "title": doc.title, "author": doc.author, "publisher": doc.sitename,
        "published": doc.date if doc.date and _ISO_DATE.fullmatch(doc.date) else None, "url": doc.url,
    }
    return {k: v for k, v in meta.items() if v}, body.strip() + "\n"


def _from_url(url: str, settings: Settings) -> tuple[dict[str, Any], str, list[str]]:
    data, content_type = fetch_url(url, settings.max_file_bytes)
    text, warnings = decode(data, url)
    if "html" in content_type or text.lstrip()[:1] == "<":
        meta, body = _from_html(text, url)
    else:
        meta, body = {}, text
    meta.setdefault("url", url)
    return meta, body, warnings


def _refuse_duplicate(body: str, item: str, settings: Settings) -> None:
    wanted = body_hash(body)
    for path in archive_paths(settings):
        try:
            source = read_source(path, settings)
        except SourceError:
            continue
        if body_hash(source.text[source.body_start :]) == wanted:
            raise DuplicateSourceError(f"{item} duplicates {source.path}; skipped", existing_path=source.path)


def slugify(title: str, limit: int = 60) -> str:
    """File-name id from a title: ASCII, lower case, words joined by '-', at most ``limit`` chars."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    ascii_title = re.sub(r"['’‘`]", "", ascii_title.replace("’", "")).lower()
    words = re.findall(r"[a-z0-9]+", ascii_title)
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > limit and slug:
            break
        slug = f"{slug}-{word}" if slug else word[:limit]
    return slug or "article"


def render(meta: dict[str, Any], body: str) -> str:
    """An archive file: front matter in a fixed field order, then the body as given."""
    lines = ["---"]
    for key in FIELDS:
        value = meta.get(key)
        if value in (None, ""):
            lines.append(f"{key}:")
        else:
            dumped = yaml.safe_dump({key: str(value)}, allow_unicode=True, width=10**6, default_style=None)
            lines.append(dumped.strip())
    return "\n".join(lines) + "\n---\n" + body


def _write(settings: Settings, meta: dict[str, Any], body: str) -> Path:
    folder = settings.sources_dir
    folder.mkdir(parents=True, exist_ok=True)
    base = slugify(meta["title"])
    path, n = folder / f"{base}.md", 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.md"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(render(meta, body))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _first_line(text: str) -> str | None:
    """The headline: the first line of four words or more (scraped text often opens
    with a section label), else the first non-blank line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    headline = next((line for line in lines if len(line.split()) >= 4), lines[0] if lines else None)
    return headline[:200] if headline else None

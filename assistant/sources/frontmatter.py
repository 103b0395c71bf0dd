"""Front matter of an archived article: YAML between ``---`` lines, in a fixed field order."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import yaml

from ..errors import SourceError

FIELDS = ("title", "publisher", "author", "published", "url", "added")
DATE_FIELDS = ("published", "added")
# Longest value kept per field, in characters. Every page load lists the titles, so one huge value
# would slow every reader; a value given by hand over its limit is refused, one found in an article
# is cut at a word boundary (a URL cut short would be wrong, so it is dropped instead).
LIMITS = {"title": 300, "publisher": 200, "author": 200, "url": 2000}

# A byte-order mark may precede the block in files saved by hand; offsets still count it.
_OPENS = re.compile(r"\ufeff?---[ \t]*\r?\n")
_BLOCK = re.compile(r"\ufeff?---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Bidirectional controls (LRM, RLM, embeddings, overrides, isolates): in a title they can make the
# text shown read differently from the text stored ("U+202E" reverses what follows).
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # yaml has no type hints here
    """Safe YAML that writes a missing value as ``author:`` rather than ``author: null``."""


_Dumper.add_representer(type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", ""))


def parse(text: str, name: str) -> tuple[dict[str, str | None], int]:
    """The front matter's fields (every name in ``FIELDS``) and the offset where the body starts.

    Text that does not open with ``---`` has no front matter: all fields are None and
    the body starts at 0.

    Raises:
        SourceError: the block is never closed, is not valid YAML, is not a mapping, or
            holds a field of the wrong type or a date not written YYYY-MM-DD.
    """
    if not _OPENS.match(text):
        return dict.fromkeys(FIELDS), 0
    match = _BLOCK.match(text)
    if match is None:
        raise SourceError(f"{name}: front matter opened with --- is never closed by a --- line")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise SourceError(f"{name}: front matter is not valid YAML{_where(exc)}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise SourceError(f"{name}: front matter must be 'field: value' lines, not a {type(meta).__name__}")
    return {key: _field(meta.get(key), key, name) for key in FIELDS}, match.end()


def _field(value: object, key: str, name: str) -> str | None:
    # YAML reads an unquoted 2021-06-17 as a date; that is what the writer meant.
    if key in DATE_FIELDS and isinstance(value, date):
        value = value.isoformat()
    if value is not None and not isinstance(value, str):
        kind = type(value).__name__
        raise SourceError(f"{name}: front matter field {key!r} must be text, not {kind}; put it in quotes")
    value = bounded(key, clean_value(value))
    if key in DATE_FIELDS and value is not None:
        check_date(value, f"{name}: {key}")
    return value


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None:
        return ""
    # +2: the mark counts from the line after the opening ---, from zero.
    return f" (line {mark.line + 2}: {problem})" if problem else f" (line {mark.line + 2})"


def clean_value(value: str | None) -> str | None:
    """A metadata value on one line with single spaces and no bidirectional controls; blank becomes None."""
    if value is None:
        return None
    value = " ".join(value.translate(_BIDI).split())
    return value or None


def bounded(key: str, value: str | None, limit: int | None = None) -> str | None:
    """``value`` within ``limit`` (default ``LIMITS[key]``): cut after its last whole word (a URL: None)."""
    limit = limit or LIMITS.get(key)
    if value is None or limit is None or len(value) <= limit:
        return value
    if key == "url":
        return None
    head = value[: limit - 1]
    cut = head.rfind(" ")
    return (head[:cut] if cut > limit // 2 else head).rstrip() + "…"


def check_length(key: str, value: str | None) -> str | None:
    """``value`` if it is within ``LIMITS[key]``.

    Raises:
        SourceError: it is longer; the message gives both lengths.
    """
    limit = LIMITS.get(key)
    if value is not None and limit is not None and len(value) > limit:
        raise SourceError(f"the {key} is {len(value):,} characters; the limit is {limit:,}")
    return value


def check_date(value: str, what: str) -> str:
    """``value`` if it is a real calendar date written YYYY-MM-DD.

    Raises:
        SourceError: naming ``what`` and the expected form.
    """
    try:
        if _ISO_DATE.fullmatch(value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise SourceError(f"{what} {value!r} is not a date like 2021-06-17")


def render(meta: dict[str, Any], body: str) -> str:
    """An archive file: the ``FIELDS`` in order (missing ones empty), then ``body`` unchanged."""
    fields = {key: meta.get(key) for key in FIELDS}
    # An infinite width keeps every value on one line, however long the title.
    dumped = yaml.dump(fields, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=math.inf)
    return f"---\n{dumped}---\n{body}"

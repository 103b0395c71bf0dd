"""Typed values passed between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """One archived article: a ``sources/<id>.md`` file with YAML front matter.

    Offsets anywhere in the pipeline index ``text``, the whole file read as UTF-8
    (front matter included); the article body is ``text[body_start:]``.
    """

    id: str  # the file stem, e.g. "childrens-social-care-a-tower-of-jenga"
    path: str  # relative to the project root, e.g. "sources/<id>.md"
    title: str
    publisher: str | None
    author: str | None
    published: str | None  # ISO date
    url: str | None
    added: str | None  # ISO date the article entered the archive
    body_start: int
    text: str  # the whole file


@dataclass(frozen=True, slots=True)
class Block:
    """A span of article text that survived cleaning: a paragraph or a list item.

    Blocks with the same ``region`` have nothing removed between them, so one
    passage may cover several of them; a passage never crosses regions.
    """

    start: int
    end: int
    kind: str  # "text" or "item" (a bullet-list item)
    region: int


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable chunk of whole sentences; ``text == source.text[start:end]``."""

    id: str  # stable: "<source-id>#<n>"
    source_id: str
    text: str
    start: int
    end: int

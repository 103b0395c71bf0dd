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
    # Its sentences as (start, end) in file offsets, found at index time; empty when unknown.
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a citation says about an article."""

    id: str
    path: str  # relative to the project root
    title: str
    publisher: str | None
    author: str | None
    published: str | None


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage. ``score`` ranks (fused for hybrid); ``similarity`` is its cosine to the question."""

    passage: Passage
    source: SourceInfo
    score: float
    similarity: float


@dataclass(frozen=True, slots=True)
class Location:
    """Where the same text also stands: a span of another source file."""

    source: SourceInfo
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Citation:
    """A verbatim quote: ``quote == file_text[start:end]`` of ``source``."""

    n: int
    quote: str
    start: int
    end: int
    source: SourceInfo
    also_in: tuple[Location, ...] = ()


@dataclass(frozen=True, slots=True)
class RankedPassage:
    """A passage in an answer's list: best first, copies in other sources folded into ``also_in``."""

    rank: int
    hit: Hit
    also_in: tuple[Location, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """Quotes with numbered citations, or an abstention with the nearest passages."""

    question: str
    abstained: bool
    text: str  # markdown
    citations: tuple[Citation, ...]
    passages: tuple[RankedPassage, ...]
    confidence: float = 1.0  # the abstention model's P(the articles answer this question)

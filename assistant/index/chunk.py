"""Passages: whole sentences packed into chunks, with exact offsets into the source file.

Sentences that only make sense together are never separated: a lead-in that ends
in ':' or ',' ("He said,", "These include:") stays with what follows, a bullet
list stays with its lead-in, and an attribution that starts in lower case
("…,’ she said.") stays with the quotation before it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from ..types import Block, Passage
from .clean import BULLET, BULLET_MARK

_PIECE_BREAK = re.compile(r"\n[ \t]*\n|\n(?=" + BULLET_MARK + ")")
_LEAD_IN = re.compile(r"[:,][\"'’”]?$")
_ATTRIBUTION = re.compile(r"^[\"'’”]?\s*[a-z]")
# pysbd's time grows with the square of the text it is given, so no call gets more than this many
# characters: a longer piece is first cut where a sentence surely ends, else at a line break or a space.
SEGMENT_MAX = 2000
_SAFE_CUTS = (re.compile(r"[.!?][\"'’”)\]]*\s+(?=[\"'‘“(]?[A-Z])"), re.compile(r"\n\s*"), re.compile(r"\s+"))
_LOOKBACK = 12  # longer than any abbreviation _false_break knows


@dataclass(slots=True)
class _Unit:
    start: int
    end: int
    region: int
    lead_in: bool  # ends in ':' or ',' and so belongs with what follows
    item: bool
    sentences: list[tuple[int, int]]


@functools.lru_cache(maxsize=1)
def _segmenter() -> Any:  # pysbd has no type hints
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence boundaries inside ``text[start:end]``, stripped, in offsets of ``text``.

    Paragraph breaks and list items always end a sentence; bullet markers are left out.
    """
    spans: list[tuple[int, int]] = []
    piece_start = start
    for brk in [*_PIECE_BREAK.finditer(text, start, end), None]:
        piece_end = brk.start() if brk else end
        bullet = BULLET.match(text, piece_start, piece_end)
        offset = bullet.end() if bullet else piece_start
        for window_start, window_end in windows(text, offset, piece_end):
            for s in _segmenter().segment(text[window_start:window_end]):
                spans.extend(_strip(text, window_start + s.start, window_start + s.end))
        piece_start = brk.end() if brk else end
    return _merge_false_splits(text, spans)


def windows(text: str, start: int, end: int, limit: int = SEGMENT_MAX) -> list[tuple[int, int]]:
    """``text[start:end]`` cut into consecutive spans of at most ``limit`` characters, in linear time.

    Each cut falls in the second half of a span, at the last sentence end followed by a capital,
    else the last line break, else the last space, else exactly at ``limit``.
    """
    out: list[tuple[int, int]] = []
    while end - start > limit:
        cut = _cut(text, start + limit // 2, start + limit)
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def _cut(text: str, lo: int, hi: int) -> int:
    """Where to end a span inside ``text[lo:hi]``: after the last safe boundary, else ``hi``."""
    for pattern in _SAFE_CUTS:
        ends = [m.end() for m in pattern.finditer(text, lo, hi)]
        if ends:
            return ends[-1]
    return hi


def chunk(text: str, blocks: list[Block], source_id: str, max_chars: int) -> list[Passage]:
    """Pack the sentences of ``blocks`` into passages of at most ``max_chars`` characters.

    Args:
        text: The whole source file.
        blocks: Kept spans from :func:`assistant.index.clean.clean`.
        source_id: Prefix of the passage ids (``"<source_id>#<n>"``).
        max_chars: Target size (``Settings.chunk_chars``); a group of sentences that must stay
            together may exceed it.

    Returns:
        Passages in document order; each never crosses a ``region`` boundary and
        ``text[p.start:p.end] == p.text``.
    """
    spans: list[tuple[int, int, int, list[tuple[int, int]]]] = []
    for unit in _units(text, blocks):
        last = spans[-1] if spans else None
        if last and last[2] == unit.region and unit.end - last[0] <= max_chars:
            spans[-1] = (last[0], unit.end, unit.region, last[3] + unit.sentences)
        else:
            spans.append((unit.start, unit.end, unit.region, list(unit.sentences)))
    return [Passage(f"{source_id}#{n}", source_id, text[s:e], s, e, tuple(sentences))
            for n, (s, e, _, sentences) in enumerate(spans)]


def _units(text: str, blocks: list[Block]) -> list[_Unit]:
    """Sentences, joined into the groups that must not be separated."""
    units: list[_Unit] = []
    for block in blocks:
        for start, end in sentence_spans(text, block.start, block.end):
            sentence = text[start:end]
            unit = _Unit(start, end, block.region, bool(_LEAD_IN.search(sentence)), block.kind == "item",
                         [(start, end)])
            prev = units[-1] if units else None
            if prev and prev.region == unit.region and _belongs_to_previous(prev, unit, sentence):
                prev.end, prev.lead_in, prev.item = unit.end, unit.lead_in, unit.item
                prev.sentences.append((start, end))
            else:
                units.append(unit)
    return units


def _belongs_to_previous(prev: _Unit, unit: _Unit, sentence: str) -> bool:
    if prev.lead_in:
        return True
    if unit.item and prev.item:
        return True  # the rest of a list that joined its lead-in
    return not unit.item and bool(_ATTRIBUTION.match(sentence))


def _strip(text: str, start: int, end: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if end > start else []


def _merge_false_splits(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo splits after abbreviations and decimals ("Mr.", "£10.", "No.") that pysbd makes."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and _false_break(text, merged[-1], start):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _false_break(text: str, prev: tuple[int, int], start: int) -> bool:
    if "\n" in text[prev[1]:start]:
        return False
    # Only the end of the sentence is read: a sentence grown by many merges is not read again each time.
    last_word = text[max(prev[0], prev[1] - _LOOKBACK):prev[1]].split()[-1]
    nxt = text[start:start + 1]
    return bool(re.fullmatch(r"(?:Mr|Mrs|Ms|Dr|Prof|Cllr|St|No|vs|etc|e\.g|i\.e)\.", last_word)) or (
        bool(re.search(r"\d\.$", last_word)) and nxt.isdigit()
    )

"""Cleaning: which spans of a scraped article are article text, and which are web boilerplate.

The rules are general, not tied to one site. A paragraph is dropped when it is
not prose (no sentence punctuation: headings, labels, captions, navigation),
cut off (a teaser blurb ending in "..."), a caption or credit, short web chrome
(comment forms, subscriptions, sharing, footers with phone numbers or
addresses), part of a list of other articles (bylines with dates), or a repeat
of the title or of an earlier paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..types import Block

# A list item's marker and the space after it: "- ", "• ", "1. ", "2) ". Chunking splits on it too.
BULLET_MARK = r"[ \t]*(?:[•▪◦·●\-*–—]|\d{1,2}[.)])[ \t]+"
BULLET = re.compile(BULLET_MARK)
# A quotation may end with a comma inside the closing mark ("…children need,’ it says").
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'’”)\]]*$|[,;][\"'’”]+$")
_LAST_SENTENCE_END = re.compile(r".*[.!?][\"'’”)\]]*(?=\s+\S)", re.S)
_LEAD_IN = re.compile(r"[:,]$")
_TRUNCATED = re.compile(r"(?:\.\.\.|…)[\"'’”)\]]*$")
_CREDIT = re.compile(
    r"(?:^|[.!?]\s+|\()(?:photo(?:graph)?|picture|image|credit|illustration)s?"
    r"(?:\s+credit)?\s*[:–—-]\s*\S[^.!?]*\)?\s*$", re.I)
_CHROME = re.compile(
    r"\b(?:comments?|email address|e-mail address|required fields?|subscri(?:be|ption)|sign[ -]?up|"
    r"newsletter|cookies?|privacy (?:policy|notice)|log ?in|sign ?in|spam|share (?:this|on|via|your)|"
    r"back to top|scroll to top|all rights reserved|terms (?:and|&) conditions|contact us|"
    r"follow us|read more|advertisement)\b|©|\bper month\b|/\s*(?:month|mo|year|yr)\b", re.I)
_PHONE = re.compile(r"(?:\btel(?:ephone)?\b|\bphone\b|\+?\d[\d ()-]{8,}\d)", re.I)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|\b[A-Z]{2} \d{5}(?:-\d{4})?\b")
_BYLINE_DATE = re.compile(
    r"^by\s+[^|]{2,60}\|\s*\d{1,2}\s+\w+\s+\d{4}$|^by\s+[^|]{2,60}\|\s*\w+\s+\d{1,2},?\s+\d{4}$", re.I)
CHROME_MAX_WORDS = 25


def clean(text: str, body_start: int, title: str | None = None) -> list[Block]:
    """The spans of the article body that are article text.

    Args:
        text: The whole source file.
        body_start: Offset of the body in ``text``.
        title: The article's title; repeats of it in the body are dropped.

    Returns:
        Kept paragraphs and list items in order, in offsets of ``text``. The
        ``region`` number goes up wherever something was dropped in between.
    """
    seen = {_norm(title)} if title else set()
    kept: list[Block] = []
    region, dropped, lead_in_kept = 0, False, False
    for start, end, is_item in _paragraphs(text, body_start):
        para = text[start:end]
        if _BYLINE_DATE.search(para) and kept and not dropped and _is_short(text[kept[-1].start : kept[-1].end]):
            kept.pop()  # the headline of a teaser for another article
        kept_end = _kept_end(para, is_item, lead_in_kept, seen, start)
        seen.add(_norm(para))
        if not is_item:
            lead_in_kept = kept_end is not None and bool(_LEAD_IN.search(para))
        elif kept_end is None:
            lead_in_kept = False
        if kept_end is None:
            dropped = True
            continue
        if dropped and kept:
            region += 1
        dropped = kept_end < start + len(para)  # its cut-off tail stays out of any passage
        kept.append(Block(start, kept_end, "item" if is_item else "text", region))
    return kept


def _kept_end(para: str, is_item: bool, lead_in_kept: bool, seen: set[str], start: int) -> int | None:
    """Where the kept part of a paragraph ends (None: drop it all)."""
    if _keeps(para, is_item, lead_in_kept, seen):
        return start + len(para)
    # A paragraph whose last sentence was cut off (say, an e-mail address removed
    # by the scraper) keeps its complete sentences.
    head = None if "\n" in para else _LAST_SENTENCE_END.match(para)
    if head and not _TRUNCATED.search(para) and _words(head.group()) >= 15 and not is_boilerplate(head.group()):
        return start + head.end()
    return None


def _keeps(para: str, is_item: bool, lead_in_kept: bool, seen: set[str]) -> bool:
    if _norm(para) in seen:
        return False
    if is_item and lead_in_kept:
        return not _is_chrome(para)
    return not is_boilerplate(para)


def is_boilerplate(para: str) -> bool:
    """True for a paragraph that is not article prose (see the module docstring)."""
    line = para.strip()
    return (
        not (_ENDS_SENTENCE.search(line) or _LEAD_IN.search(line))
        or bool(_TRUNCATED.search(line))
        or bool(_BYLINE_DATE.search(line))
        or bool(_CREDIT.search(line)) and _words(line) <= CHROME_MAX_WORDS
        or _is_chrome(line)
    )


def _is_chrome(line: str) -> bool:
    if _words(line) > CHROME_MAX_WORDS:
        return False
    return bool(_CHROME.search(line) or _PHONE.search(line) or _POSTCODE.search(line))


def _paragraphs(text: str, body_start: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, is list item) of each paragraph or list item, stripped, in file offsets.

    A paragraph is a run of non-blank lines; each bulleted line is an item of its own,
    its span starting after the bullet so that no quote begins with one.
    """
    start: int | None = None
    end = body_start
    pos = body_start
    for line in text[body_start:].splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        content = line.strip()
        bullet = BULLET.match(line) if content else None
        if not content or bullet:
            if start is not None:
                yield start, end, False
                start = None
            if bullet and line[bullet.end():].strip():
                item_start = line_start + bullet.end()
                yield item_start, item_start + len(line[bullet.end():].rstrip()), True
            continue
        if start is None:
            start = line_start + (len(line) - len(line.lstrip()))
        end = line_start + len(line.rstrip())
    if start is not None:
        yield start, end, False


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[‘’“”\"'`]", "", text).lower().split())


def _is_short(text: str) -> bool:
    return _words(text) <= CHROME_MAX_WORDS


def _words(text: str) -> int:
    return len(text.split())

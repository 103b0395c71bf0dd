"""Grouping: the same quote or passage carried by several articles counts once."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
SHINGLE = 3
QUOTE_RUN = 8  # words in a row that make two sentences repeat one quotation


@functools.lru_cache(maxsize=8192)  # the same passages and sentences are compared again and again
def _words(text: str) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return tuple(re.findall(r"[a-z0-9]+", folded.replace("'", "")))


def words(text: str) -> list[str]:
    """Lower-case ASCII words; quote marks, dashes and punctuation ignored ("30-year-old" -> 30 year old)."""
    return list(_words(text))


@functools.lru_cache(maxsize=8192)
def shingles(text: str, n: int = SHINGLE) -> frozenset[tuple[str, ...]]:
    """Word n-grams of ``text`` (the whole text when it is shorter than n words)."""
    w = _words(text)
    if len(w) < n:
        return frozenset([tuple(w)]) if w else frozenset()
    return frozenset(zip(*(w[i:] for i in range(n))))


@functools.lru_cache(maxsize=65536)  # the same passages meet again question after question
def similarity(a: str, b: str) -> float:
    """Share of the shorter text's shingles found in the other (containment, 0..1).

    Texts whose figures differ score 0: "rose by 7%" and "rose by 9%" are different statements.
    """
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    small, large = (a, b) if len(sa) <= len(sb) else (b, a)
    if not _numbers(small) <= _numbers(large):
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def same_quote(a: str, b: str, threshold: float) -> bool:
    """True when ``a`` and ``b`` are near-identical, or repeat one quotation of QUOTE_RUN words or more.

    "30-year-old tower of Jenga held together with Sellotape" quoted inside two different
    sentences is one quote; figures must agree in both cases.
    """
    if similarity(a, b) >= threshold:
        return True
    wa, wb = _words(a), _words(b)
    if min(len(wa), len(wb)) < QUOTE_RUN:
        return False
    small, large = (a, b) if len(wa) <= len(wb) else (b, a)
    if not _numbers(small) <= _numbers(large):
        return False
    # QUOTE_RUN words in a row in both texts is exactly one word QUOTE_RUN-gram they share.
    return not shingles(a, QUOTE_RUN).isdisjoint(shingles(b, QUOTE_RUN))


def group(items: Sequence[T], text: Callable[[T], str], threshold: float) -> list[list[T]]:
    """Greedy grouping in order: each item joins the first group whose leader it matches.

    Returns:
        Groups in the order of their leaders (the first, best-ranked item of each).
    """
    groups: list[list[T]] = []
    for item in items:
        for members in groups:
            if similarity(text(members[0]), text(item)) >= threshold:
                members.append(item)
                break
        else:
            groups.append([item])
    return groups


@functools.lru_cache(maxsize=8192)
def _numbers(text: str) -> frozenset[str]:
    return frozenset(w for w in _words(text) if w.isdigit())

"""BM25 as sparse vectors: the document side weighted here, the IDF side left to Qdrant's IDF modifier.

bm25s (``index.lexical``, method "lucene") scores a passage d for query tokens q as

    sum over tokens t of q:  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

Qdrant's IDF modifier multiplies each query value by exactly that idf, with N and df counted over the
points of the collection, so a document vector holding the tf fraction and a query vector holding how
often each token occurs in the question give the same score. Term ids are a hash of the stemmed token:
stable across generations and writers without a shared vocabulary.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

K1 = 1.5  # bm25s.BM25() defaults, which lexical.build uses
B = 0.75
# A passage without any token still counts in bm25s's N; Qdrant Edge leaves an empty sparse vector out
# of it. Such passages hold this one term, which no query ever asks for.
EMPTY_TERM = 0
HASH = "blake2b-32"  # recorded with the collection: another hash means another vocabulary


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term ids (ascending, unique) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


def term_id(token: str) -> int:
    """The 32-bit id of a stemmed token (never ``EMPTY_TERM``)."""
    value = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "big")
    return value or 1


def average_length(tokens: Iterable[Sequence[str]]) -> float:
    """Mean number of tokens per passage (bm25s's avgdl; 1.0 for no passages)."""
    lengths = [len(t) for t in tokens]
    return sum(lengths) / len(lengths) if lengths else 1.0


def document_vector(tokens: Sequence[str], avgdl: float, k1: float = K1, b: float = B) -> SparseVector:
    """A passage's weights: bm25s's term-frequency component of each distinct token."""
    if not tokens:
        return SparseVector((EMPTY_TERM,), (1.0,))
    norm = k1 * (1 - b + b * len(tokens) / avgdl)
    weights: dict[int, float] = {}
    for token, tf in Counter(tokens).items():
        weights[term_id(token)] = weights.get(term_id(token), 0.0) + tf / (tf + norm)
    return _sorted(weights)


def query_vector(tokens: Sequence[str]) -> SparseVector:
    """A question's weights: how often each token occurs in it (bm25s adds a repeated token twice)."""
    counts: dict[int, float] = {}
    for token in tokens:
        counts[term_id(token)] = counts.get(term_id(token), 0.0) + 1.0
    return _sorted(counts)


def collisions(vocabulary: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of distinct tokens that share an id (their documents then share a df)."""
    seen: dict[int, str] = {}
    found = []
    for token in sorted(set(vocabulary)):
        other = seen.setdefault(term_id(token), token)
        if other != token:
            found.append((other, token))
    return found


def _sorted(weights: dict[int, float]) -> SparseVector:
    ids = sorted(weights)
    return SparseVector(tuple(ids), tuple(weights[i] for i in ids))

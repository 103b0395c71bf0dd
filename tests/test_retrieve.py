"""Retrieval and answer helpers: fast paths must give exactly what the plain computation gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from assistant.answer.retrieve import _top


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -np.inf, 3.25]), max_size=300), st.integers(0, 320))
def test_top_k_equals_a_stable_full_sort(scores: list[float], k: int) -> None:
    x = np.array(scores, dtype=np.float64)
    assert _top(x, k).tolist() == np.argsort(-x, kind="stable")[:k].tolist()


_WORD = st.sampled_from(["the", "review", "said", "jenga", "care", "2021", "children", "tower", "of", "a"])


@given(st.lists(_WORD, max_size=30), st.lists(_WORD, max_size=30))
def test_quote_run_check_equals_the_longest_common_word_run(a: list[str], b: list[str]) -> None:
    """same_quote's shared-8-gram test says what difflib's longest common run says (when shingles disagree)."""
    from difflib import SequenceMatcher

    from assistant.answer.group import QUOTE_RUN, _numbers, same_quote, similarity

    x, y = " ".join(a), " ".join(b)
    run = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size
    small, large = (x, y) if len(a) <= len(b) else (y, x)
    expected = similarity(x, y) >= 0.6 or (run >= QUOTE_RUN and _numbers(small) <= _numbers(large))
    assert same_quote(x, y, 0.6) == expected


def _rrf_by_full_sort(dense: np.ndarray, bm25: np.ndarray, allowed: np.ndarray, c: int, w: float) -> np.ndarray:
    fused = np.zeros(len(dense), dtype=np.float64)
    for weight, scores, has_signal in ((1.0, dense, np.ones(len(dense), bool)), (w, bm25, bm25 > 0)):
        masked = np.where(allowed & has_signal, scores, -np.inf)
        order = np.argsort(-masked, kind="stable")
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[order] = np.arange(1, len(order) + 1)
        fused += np.where(allowed & has_signal, weight / (c + ranks), 0.0)
    return fused


@given(st.lists(st.tuples(st.sampled_from([-0.5, 0.0, 0.25, 0.5, 0.9]), st.sampled_from([0.0, 0.0, 1.5, 2.0, 7.25]),
                          st.booleans()), max_size=200),
       st.integers(1, 60), st.sampled_from([1.0, 1.5, 2.0]))
def test_fusion_ranks_as_a_full_sort_of_every_passage_would(rows: list[tuple[float, float, bool]], c: int, w: float) -> None:
    from assistant.answer.retrieve import rrf

    dense = np.array([r[0] for r in rows], dtype=np.float32)
    bm25 = np.array([r[1] for r in rows], dtype=np.float32)
    allowed = np.array([r[2] for r in rows], dtype=bool)
    assert np.array_equal(rrf(dense, bm25, allowed, c, w), _rrf_by_full_sort(dense, bm25, allowed, c, w))

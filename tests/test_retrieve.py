"""Retrieval and answer helpers: fast paths must give exactly what the plain computation gives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from assistant.index.search import top_k as _top


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


_ROWS = st.lists(st.tuples(st.sampled_from([-0.5, 0.0, 0.25, 0.5, 0.9]), st.sampled_from([0.0, 0.0, 1.5, 2.0, 7.25]),
                          st.booleans()), max_size=200)


def _lists(rows: list[tuple[float, float, bool]], depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, object, object]:
    from assistant.index.search import best

    dense = np.array([r[0] for r in rows], dtype=np.float32)
    bm25 = np.array([r[1] for r in rows], dtype=np.float32)
    allowed = np.array([r[2] for r in rows], dtype=bool)
    return dense, bm25, allowed, best(dense, depth, allowed), best(bm25, depth, allowed, positive=True)


@given(_ROWS, st.integers(1, 60), st.sampled_from([1.0, 1.5, 2.0]))
def test_fusion_of_full_candidate_lists_ranks_as_a_full_sort_of_every_passage_would(
        rows: list[tuple[float, float, bool]], c: int, w: float) -> None:
    from assistant.answer.retrieve import rrf

    dense, bm25, allowed, dense_list, bm25_list = _lists(rows, len(rows))
    expected = _rrf_by_full_sort(dense, bm25, allowed, c, w)
    order = np.flatnonzero(allowed)[np.lexsort((np.flatnonzero(allowed), -expected[allowed]))]
    fused = rrf(dense_list, bm25_list, c, w)  # type: ignore[arg-type]
    assert fused.rows.tolist() == order.tolist()
    assert np.array_equal(fused.scores, expected[order])


@given(_ROWS, st.integers(1, 20), st.integers(1, 60))
def test_fusion_of_cut_lists_counts_only_the_lists_a_passage_is_in(rows: list[tuple[float, float, bool]], depth: int,
                                                                   c: int) -> None:
    from assistant.answer.retrieve import rrf

    _, _, _, dense_list, bm25_list = _lists(rows, depth)
    fused = rrf(dense_list, bm25_list, c, 1.5)  # type: ignore[arg-type]
    for row, score in zip(fused.rows.tolist(), fused.scores.tolist()):
        expected = sum(w / (c + ranked.rows.tolist().index(row) + 1)
                       for w, ranked in ((1.0, dense_list), (1.5, bm25_list)) if row in ranked.rows.tolist())
        assert score == pytest.approx(expected, rel=1e-12)
    assert set(fused.rows.tolist()) == set(dense_list.rows.tolist()) | set(bm25_list.rows.tolist())
    assert all(a >= b for a, b in zip(fused.scores, fused.scores[1:]))

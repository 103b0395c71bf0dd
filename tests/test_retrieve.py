"""Retrieval and answer helpers: fast paths must give exactly what the plain computation gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from assistant.retrieve import _top


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -np.inf, 3.25]), max_size=300), st.integers(0, 320))
def test_top_k_equals_a_stable_full_sort(scores: list[float], k: int) -> None:
    x = np.array(scores, dtype=np.float64)
    assert _top(x, k).tolist() == np.argsort(-x, kind="stable")[:k].tolist()


_WORD = st.sampled_from(["the", "review", "said", "jenga", "care", "2021", "children", "tower", "of", "a"])


@given(st.lists(_WORD, max_size=30), st.lists(_WORD, max_size=30))
def test_quote_run_check_equals_the_longest_common_word_run(a: list[str], b: list[str]) -> None:
    """same_quote's shared-8-gram test says what difflib's longest common run says (when shingles disagree)."""
    from difflib import SequenceMatcher

    from assistant.group import QUOTE_RUN, _numbers, same_quote, similarity

    x, y = " ".join(a), " ".join(b)
    run = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size
    small, large = (x, y) if len(a) <= len(b) else (y, x)
    expected = similarity(x, y) >= 0.6 or (run >= QUOTE_RUN and _numbers(small) <= _numbers(large))
    assert same_quote(x, y, 0.6) == expected

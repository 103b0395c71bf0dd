"""Retrieval helpers: partial sorting must give exactly what a full stable sort gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from assistant.retrieve import _top


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -np.inf, 3.25]), max_size=300), st.integers(0, 320))
def test_top_k_equals_a_stable_full_sort(scores: list[float], k: int) -> None:
    x = np.array(scores, dtype=np.float64)
    assert _top(x, k).tolist() == np.argsort(-x, kind="stable")[:k].tolist()

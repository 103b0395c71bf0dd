"""Passages: exact slices of whole sentences that keep lists and quotes together."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from assistant.index.chunk import chunk, sentence_spans
from assistant.index.clean import clean
from assistant.types import Passage
from conftest import seed_files

HEADER = "---\ntitle: T\n---\n"


def seed_text(path: Path) -> str:
    return HEADER + path.read_text(encoding="utf-8")


def passages(text: str, max_chars: int = 600) -> list[Passage]:
    return chunk(text, clean(text, len(HEADER)), "s", max_chars)


def find(ps: list[Passage], phrase: str) -> Passage:
    found = [p for p in ps if phrase in p.text]
    assert len(found) == 1, phrase
    return found[0]


@pytest.fixture
def seed_texts(seed_paths: list[Path]) -> list[str]:
    return [seed_text(p) for p in seed_paths]


def test_passages_are_exact_slices_with_stable_ids(seed_texts: list[str]) -> None:
    for text in seed_texts:
        ps = passages(text)
        assert ps and [p.id for p in ps] == [f"s#{n}" for n in range(len(ps))]
        for p in ps:
            assert text[p.start : p.end] == p.text and p.source_id == "s"


def test_no_sentence_is_cut(seed_texts: list[str]) -> None:
    for text in seed_texts:
        blocks = clean(text, len(HEADER))
        starts = {s for b in blocks for s, _ in sentence_spans(text, b.start, b.end)}
        ends = {e for b in blocks for _, e in sentence_spans(text, b.start, b.end)}
        for p in passages(text, 200):
            assert p.start in starts and p.end in ends


def test_bullet_list_stays_with_its_lead_in(seed_texts: list[str]) -> None:
    ps = passages(seed_texts[3], 100)
    p = find(ps, "are as follows:")
    for item in ["642,980 referrals", "389,260 children in need", "Section 47", "51,510", "80,080"]:
        assert item in p.text
    p = find(passages(seed_texts[1], 100), "These include:")
    assert "Triple P" in p.text and "Reducing the risk of abuse and neglect" in p.text


def test_quotation_stays_with_its_attribution(seed_texts: list[str]) -> None:
    ps = passages(seed_texts[1], 50)
    assert "knottiest problems" in find(ps, "He said,").text
    assert find(ps, "‘It is unacceptable").text.find("she said.") > 0
    assert "Every child or young person" in find(ps, "Vicky Ford said,").text
    ps = passages(seed_texts[0], 50)
    assert "once in a generation" in find(ps, "Charlotte Ramsden").text


def test_passages_never_span_dropped_boilerplate(seed_texts: list[str]) -> None:
    for text in seed_texts:
        for p in passages(text, 5000):
            for phrase in ["Picture: Adobe Stock", "email the review team at", "Notify of", "Subscribe", "Fiona Simpson"]:
                assert phrase not in p.text


def test_size_limit_is_kept_unless_one_group_is_longer(seed_texts: list[str]) -> None:
    for text in seed_texts:
        for p in passages(text, 300):
            if len(p.text) > 300:  # then it is one indivisible group of sentences
                assert len(passages(p.text.join(["---\ntitle: T\n---\n", ""]), 10**6)) == 1


def test_abbreviations_and_decimals_do_not_split() -> None:
    text = "Mr. Smith said the total was £10.1 billion in 2019-20. Dr. Jones agreed. It was 2.5 times more."
    spans = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert spans == ["Mr. Smith said the total was £10.1 billion in 2019-20.", "Dr. Jones agreed.", "It was 2.5 times more."]


@hsettings(max_examples=40, deadline=None)
@given(max_chars=st.integers(min_value=50, max_value=2000), seed=st.integers(min_value=0, max_value=4))
def test_passages_cover_kept_text_exactly(max_chars: int, seed: int) -> None:
    text = seed_text(seed_files()[seed])
    blocks = clean(text, len(HEADER))
    ps = chunk(text, blocks, "s", max_chars)
    for a, b in zip(ps, ps[1:]):
        assert a.end <= b.start
    covered = set()
    for p in ps:
        assert text[p.start : p.end] == p.text
        # The recorded sentences run in order inside the passage, first to last, each stripped.
        assert p.sentences and p.sentences[0][0] == p.start and p.sentences[-1][1] == p.end
        assert all(a < b <= c for (a, b), (c, _) in zip(p.sentences, p.sentences[1:]))
        assert all(text[a:b] == text[a:b].strip() for a, b in p.sentences)
        inside = [b for b in blocks if p.start <= b.start and b.end <= p.end or b.start <= p.start < b.end]
        assert len({b.region for b in inside}) == 1
        covered.update(range(p.start, p.end))
    for b in blocks:
        assert all(i in covered for i in range(b.start, b.end) if not text[i].isspace())

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


# --- over-long paragraphs --------------------------------------------------------------------------------------
class _Span:
    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end


class _CountingSegmenter:
    """Stands in for pysbd: records how much text each call gets and calls each line a sentence."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def segment(self, text: str) -> list[_Span]:
        self.sizes.append(len(text))
        return [_Span(0, len(text))]


SENTENCE = "The council said on Monday that 642,980 referrals were made to Mr. Smith's team in 2019-20."


def _long_paragraph(chars: int) -> str:
    return " ".join([SENTENCE] * (chars // len(SENTENCE) + 1))


def test_a_megabyte_paragraph_reaches_the_segmenter_in_bounded_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.index.chunk as chunk_module

    spy = _CountingSegmenter()
    monkeypatch.setattr(chunk_module, "_segmenter", lambda: spy)
    text = HEADER + _long_paragraph(1_000_000)
    ps = passages(text, 450)
    assert len(spy.sizes) >= 1_000_000 // chunk_module.SEGMENT_MAX
    assert max(spy.sizes) <= chunk_module.SEGMENT_MAX
    assert all(text[p.start : p.end] == p.text for p in ps)
    assert ps[0].start == len(HEADER) and ps[-1].end == len(text)


def test_long_paragraphs_are_cut_where_sentences_end() -> None:
    text = _long_paragraph(30_000)
    spans = sentence_spans(text, 0, len(text))
    assert all(text[s:e] == text[s:e].strip() for s, e in spans)
    # Every sentence is whole: the windows never cut one, and "Mr." still does not end one.
    assert {text[s:e] for s, e in spans} == {SENTENCE}


def test_a_line_without_spaces_is_cut_hard_at_the_bound() -> None:
    from assistant.index.chunk import SEGMENT_MAX, windows

    text = "x" * (SEGMENT_MAX * 3 + 5)
    assert windows(text, 0, len(text)) == [(0, SEGMENT_MAX), (SEGMENT_MAX, 2 * SEGMENT_MAX),
                                           (2 * SEGMENT_MAX, 3 * SEGMENT_MAX), (3 * SEGMENT_MAX, len(text))]


@hsettings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab .!?\n\"’XY"), max_size=3000),
       limit=st.integers(min_value=2, max_value=300))
def test_windows_cover_the_text_in_order_within_the_bound(text: str, limit: int) -> None:
    from assistant.index.chunk import windows

    spans = windows(text, 0, len(text), limit)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(0 < e - s <= limit for s, e in spans[:-1]) and spans[-1][1] - spans[-1][0] <= limit
    assert all(e - s >= limit // 2 for s, e in spans[:-1])  # progress: linear in the text's length

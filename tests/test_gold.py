"""The gold set agrees with the archive: answers are verbatim and their sources complete."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evals.gold import load_gold

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {p.stem: p.read_bytes().decode("utf-8") for p in (ROOT / "sources").glob("*.md")}


@pytest.fixture(scope="module")
def gold() -> list:
    return load_gold(ROOT / "evals" / "gold.jsonl")


def test_gold_set_size_and_coverage(gold: list, texts: dict[str, str]) -> None:
    answerable = [q for q in gold if q.answers]
    assert len(answerable) >= 60 and len(gold) - len(answerable) >= 10
    assert {q.split for q in gold} == {"tune", "heldout"}
    only_in = Counter(q.sources[0] for q in answerable if len(q.sources) == 1)
    assert set(only_in) == set(texts), "every article has questions only it answers"


def test_answers_are_verbatim_and_sources_complete(gold: list, texts: dict[str, str]) -> None:
    for q in gold:
        holders = sorted(sid for sid, text in texts.items() if any(a in text for a in q.answers))
        assert holders == sorted(q.sources), q.id
        assert all(any(a in t for t in texts.values()) for a in q.answers), q.id


def test_answers_lie_in_article_text_not_boilerplate(gold: list) -> None:
    from assistant.index.update import passages_of
    from assistant.sources import archive_paths, read_source

    settings = Settings(root=ROOT)
    passages = [p.text for path in archive_paths(settings) for p in passages_of(read_source(path, settings), settings)]
    for q in gold:
        for a in q.answers:
            assert any(a in p for p in passages), (q.id, a)

"""The gold question set: ``evals/gold.jsonl``, one question a line (format in evals/README.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import AssistantError

T = TypeVar("T")
GOLD_KEYS = ("id", "question", "answers", "sources", "kind", "split")


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    """One gold question: ``answers`` are verbatim substrings; none means the articles cannot answer it."""

    id: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    kind: str
    split: str  # "tune" or "heldout"
    style: str = "article"  # "article": in the articles' own words; "reader": in a reader's


def read_rows(path: Path, make: Callable[[dict[str, Any]], T], what: str, missing: str) -> list[T]:
    """One ``make(row)`` per JSON line of ``path`` (blank lines skipped).

    Raises:
        AssistantError: no such file (``missing`` says what to do), or a line ``make`` cannot read.
    """
    if not path.is_file():
        raise AssistantError(missing)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(make(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AssistantError(f"{path.name} line {n}: not {what}") from None
    return rows


def load_gold(path: Path) -> list[GoldQuestion]:
    """Read and check a gold set.

    Raises:
        AssistantError: no such file, a line that is not a gold question, or repeated ids.
    """
    rows = read_rows(path, _gold_question, f"a gold question with {', '.join(GOLD_KEYS)}",
                     f"no gold set at {path}; see evals/README.md")
    if len({q.id for q in rows}) != len(rows):
        raise AssistantError(f"{path.name}: question ids are not unique")
    return rows


def _gold_question(row: dict[str, Any]) -> GoldQuestion:
    return GoldQuestion(row["id"], row["question"], tuple(row["answers"]), tuple(row["sources"]), row["kind"],
                        row["split"], row.get("style", "article"))

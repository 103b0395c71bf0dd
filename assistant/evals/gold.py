"""The gold question set: ``evals/gold.jsonl``, one question a line (format in evals/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssistantError

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


def load_gold(path: Path) -> list[GoldQuestion]:
    """Read and check a gold set.

    Raises:
        AssistantError: no such file, a line that is not a gold question, or repeated ids.
    """
    if not path.is_file():
        raise AssistantError(f"no gold set at {path}; see evals/README.md")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append(GoldQuestion(row["id"], row["question"], tuple(row["answers"]), tuple(row["sources"]),
                                     row["kind"], row["split"], row.get("style", "article")))
        except (ValueError, KeyError, TypeError):
            raise AssistantError(f"{path.name} line {n}: not a gold question with {', '.join(GOLD_KEYS)}") from None
    if len({q.id for q in rows}) != len(rows):
        raise AssistantError(f"{path.name}: question ids are not unique")
    return rows

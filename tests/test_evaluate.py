"""The evaluation suite: metrics on hand-made rankings, the BEIR loader, and a small end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.evals.beir import evaluate_beir, load_beir
from assistant.evals.gold import load_gold
from assistant.evals.runner import metrics
from assistant.session import Assistant
from conftest import HashEncoder

FIXTURES = Path(__file__).parent / "fixtures"


def judged(qid: str, ranked: list[str], relevant: list[str], *, answerable: bool = True, abstained: bool = False,
           source_recall: float | None = 1.0, correct: bool = False, chars: int = 100) -> dict:
    return {"id": qid, "split": "tune", "kind": "figure", "answerable": answerable, "abstained": abstained,
            "relevant_ranks": [i + 1 for i, p in enumerate(ranked) if p in relevant], "ranked": ranked,
            "relevant": relevant, "source_recall@5": source_recall if answerable else None,
            "citations_valid": True, "citations": 1, "correct": correct, "first_correct": correct,
            "chars": 0 if abstained else chars, "quotes": 0 if abstained else 1, "passage_hit@5": bool(relevant)}


def test_metrics_on_known_rankings() -> None:
    m = metrics([
        judged("a", ["p1", "p2", "p3"], ["p1"], correct=True, chars=300),  # hit at rank 1, and quoted
        judged("b", ["p4", "p5", "p6", "p7"], ["p6"], source_recall=0.5),  # hit at rank 3
        judged("c", ["p8", "p9"], ["px"], abstained=True, source_recall=0.0),  # missed, wrongly abstained
        judged("u", ["p1"], [], answerable=False, abstained=True),
        judged("v", ["p1"], [], answerable=False, abstained=False),
    ])
    assert m["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["recall@3"] == m["recall@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3, abs=1e-4)
    # nDCG@10 with one relevant passage each: 1, 1/log2(4) = 0.5, 0.
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert m["source_recall@5"] == pytest.approx(0.5, abs=1e-4)
    assert m["abstention_precision"] == 0.5 and m["abstention_recall"] == 0.5
    assert m["false_abstention_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["citation_validity"] == 1.0
    # Answer accuracy counts quotes, not passages: only "a" quoted its answer.
    assert m["answer_accuracy"] == pytest.approx(1 / 3, abs=1e-4) and m["first_quote_accuracy"] == m["answer_accuracy"]
    assert m["chars_per_answer"] == pytest.approx((300 + 100 + 100) / 3, abs=1e-4)  # a, b and v answered


def test_beir_loader_reads_header_and_crlf() -> None:
    corpus, queries, qrels = load_beir(FIXTURES / "beir")
    assert qrels == {"q1": {"d1": 1}, "q2": {"d3": 1}}
    assert set(queries) == {"q1", "q2"}  # only judged queries
    assert corpus["d1"].startswith("Foster care\nFoster carers look after")


def test_beir_loader_refuses_other_folders(tmp_path: Path) -> None:
    with pytest.raises(AssistantError, match="not a BEIR dataset: missing corpus.jsonl"):
        load_beir(tmp_path)


def test_beir_evaluation_in_a_temporary_index(settings: Settings, assistant: Assistant) -> None:
    report = evaluate_beir(FIXTURES / "beir", assistant)
    assert report.documents == 4 and report.queries == 2
    for mode in ("dense", "bm25", "hybrid"):
        assert report.modes[mode]["recall@100"] == 1.0 and 0.0 < report.modes[mode]["ndcg@10"] <= 1.0
    assert report.modes["bm25"]["ndcg@10"] == 1.0  # each query shares its words with its one relevant document
    assert not settings.index_dir.exists()  # the archive's own index is untouched


def test_gold_set_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "q1", "question": "x"}\n', encoding="utf-8")
    with pytest.raises(AssistantError, match="line 1: not a gold question"):
        load_gold(path)


def test_eval_end_to_end_on_a_fixture_archive(archive: Settings, encoder: HashEncoder) -> None:
    Assistant(archive, encoder).update()
    gold = archive.root / "gold.jsonl"
    rows = [
        {"id": "q1", "question": "How many referrals were there in 2019-20?", "answers": ["642,980 referrals"],
         "sources": ["childrens-social-care-system-likened-to-jenga-tower-held"], "kind": "figure", "split": "tune"},
        {"id": "q2", "question": "Section 47 enquiries", "answers": ["Section 47 enquiries rose"],
         "sources": ["childrens-social-care-system-likened-to-jenga-tower-held"], "kind": "figure", "split": "heldout"},
        {"id": "q3", "question": "Who won the cup final?", "answers": [], "sources": [], "kind": "unanswerable",
         "split": "tune"},
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--root", str(archive.root), "--model", archive.model, "eval", "--gold",
                                      str(gold), "--compare", "--json"], obj=lambda s: Assistant(s, encoder))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"saved", "dense", "bm25", "hybrid"}
    assert data["bm25"]["all"]["recall@10"] == 1.0 and data["bm25"]["all"]["citation_validity"] == 1.0
    saved = archive.root / data["saved"]
    payload = json.loads(saved.read_text(encoding="utf-8"))
    assert {"date", "git_revision", "model", "parameters", "results", "gold"} <= set(payload)
    assert saved.with_suffix(".png").stat().st_size > 1000

"""Evaluation reports: the comparison table, the saved run and its bar chart."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings

SHOWN = ("answer_accuracy", "first_quote_accuracy", "chars_per_answer", "recall@1", "recall@3", "recall@5",
         "recall@10", "mrr@10", "ndcg@10", "source_recall@5", "abstention_precision", "abstention_recall",
         "false_abstention_rate", "citation_validity")
CHARTED = ("answer_accuracy", "first_quote_accuracy", "recall@1", "recall@5", "mrr@10", "ndcg@10", "source_recall@5")


def table(report: dict[str, Any], split: str = "all") -> str:
    """Metrics as rows, modes as columns."""
    modes = [m for m in report if isinstance(report[m], dict) and split in report[m]]
    width = max(len(m) for m in SHOWN) + 2
    lines = [f"{split + ':':<{width}}" + "".join(f"{m:>10}" for m in modes)]
    for metric in SHOWN:
        cells = [report[m][split].get(metric) for m in modes]
        shown = [("—" if v is None else f"{v:.0f}" if metric == "chars_per_answer" else f"{v:.3f}") for v in cells]
        lines.append(f"{metric:<{width}}" + "".join(f"{v:>10}" for v in shown))
    return "\n".join(lines)


def style_table(report: dict[str, Any]) -> str:
    """Answer accuracy by question style (rows) and split (columns), for each mode that has styles."""
    lines = []
    for mode, result in report.items():
        styles = result.get("by_style", {}) if isinstance(result, dict) else {}
        if len(styles) < 2:
            continue
        lines.append(f"{mode} answer accuracy by style:" + "".join(f"{s:>10}" for s in ("all", "tune", "heldout"))
                     + f"{'n':>6}{'abst.rec':>10}{'false abst':>12}")
        for style, by_split in styles.items():
            cells = [by_split[s]["answer_accuracy"] for s in ("all", "tune", "heldout")]
            tail = by_split["all"]
            lines.append(f"  {style:<30}" + "".join(f"{'—' if v is None else f'{v:.3f}':>10}" for v in cells)
                         + f"{tail['answerable']:>6}{_cell(tail['abstention_recall']):>10}"
                         + f"{_cell(tail['false_abstention']):>12}")
    return "\n".join(lines)


def curve_table(report: dict[str, Any], mode: str = "hybrid") -> str:
    """The abstention trade-off: precision, recall and false abstention per confidence threshold."""
    rows = report.get(mode, {}).get("abstention_curve", []) if isinstance(report.get(mode), dict) else []
    if not rows:
        return ""
    lines = [f"{mode} abstention if confidence below:{'precision':>12}{'recall':>10}{'false abst':>12}"]
    for r in rows:
        lines.append(f"  {r['threshold']:<32.2f}{_cell(r['abstention_precision']):>12}{_cell(r['abstention_recall']):>10}"
                     f"{_cell(r['false_abstention']):>12}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def save(report: dict[str, Any], settings: Settings, folder: Path, extra: dict[str, Any]) -> Path:
    """Write the run as JSON (with model, parameters, date, git revision) and a chart beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stem = folder / f"{now:%Y%m%dT%H%M%SZ}-{'-'.join(m for m in report if isinstance(report[m], dict))}"
    params = settings.parameters()
    payload = {"date": now.isoformat(timespec="seconds"), "git_revision": _git_revision(settings.root),
               "model": settings.model, "parameters": params, **extra, "results": report}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    chart(report, stem.with_suffix(".png"))
    return stem.with_suffix(".json")


def chart(report: dict[str, Any], path: Path, split: str = "all") -> None:
    """Grouped bars: one group per metric, one bar per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in report if isinstance(report[m], dict) and split in report[m]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        values = [report[mode][split].get(m) or 0.0 for m in CHARTED]
        ax.bar([x + i * width for x in range(len(CHARTED))], values, width, label=mode)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(CHARTED))], CHARTED, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Answers and retrieval on the gold set ({split} questions)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _git_revision(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"

"""Evaluation reports: the comparison table, the saved run and its bar chart."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings

SHOWN = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10", "source_recall@5",
         "abstention_precision", "abstention_recall", "false_abstention_rate", "citation_validity")
CHARTED = SHOWN[:7]


def table(report: dict[str, Any], split: str = "all") -> str:
    """Metrics as rows, modes as columns."""
    modes = [m for m in report if isinstance(report[m], dict) and split in report[m]]
    width = max(len(m) for m in SHOWN) + 2
    lines = [f"{split + ':':<{width}}" + "".join(f"{m:>10}" for m in modes)]
    for metric in SHOWN:
        cells = [report[m][split].get(metric) for m in modes]
        lines.append(f"{metric:<{width}}" + "".join(f"{'—' if v is None else f'{v:.3f}':>10}" for v in cells))
    return "\n".join(lines)


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
    ax.set_title(f"Retrieval on the gold set ({split} questions)")
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

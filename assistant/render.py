"""Rendering typed results: one JSON rendering (``to_json``) and one text rendering (``to_text``).

The JSON objects are the output contract documented in the README: keep them stable, tools rely on them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Any

from .evals import report as reports
from .evals.beir import BeirRun
from .evals.qa import SPLITS, QARun
from .evals.runner import GoldRun
from .index.update import Status, UpdateReport
from .session import Added, AddItem, Removed
from .types import Answer, Citation, Location, RankedPassage, Source, SourceInfo


@dataclass(frozen=True, slots=True)
class Line:
    """One line (or block) of text output; ``err`` lines go to stderr."""

    text: str
    err: bool = False


@dataclass(frozen=True, slots=True)
class QuestionFailed:
    """A question in a batch that could not be asked (empty, too long)."""

    question: str
    error: str


def dumps(value: object) -> str:
    """``to_json(value)`` as one line of JSON."""
    return json.dumps(to_json(value), ensure_ascii=False)


# -- JSON -------------------------------------------------------------------------------------------------------

@functools.singledispatch
def to_json(value: object) -> Any:
    """A typed result as plain JSON values."""
    raise TypeError(f"no JSON rendering for {type(value).__name__}")


@to_json.register
def _(a: Answer) -> dict[str, Any]:
    return {"question": a.question, "abstained": a.abstained, "confidence": round(a.confidence, 4), "answer": a.text,
            "citations": [_citation(c) for c in a.citations], "passages": [_passage(r) for r in a.passages]}


@to_json.register
def _(r: UpdateReport) -> dict[str, Any]:
    return {"plan": {k: list(v) for k, v in dataclasses.asdict(r.plan).items()}, "sources": r.sources,
            "passages": r.passages, "embedded": r.embedded, "reused": r.reused,
            "sentences_embedded": r.sentences_embedded, "generation": r.generation,
            "warnings": list(r.warnings)}


@to_json.register
def _(s: Status) -> dict[str, Any]:
    return {"archive_sources": s.archive_sources, "indexed_sources": s.indexed_sources, "passages": s.passages,
            "model": dataclasses.asdict(s.model) if s.model else None, "built": s.built,
            "up_to_date": s.up_to_date,
            "stale": {"new": list(s.plan.new), "changed": list(s.plan.changed), "deleted": list(s.plan.deleted)}}


@to_json.register
def _(s: Source) -> dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name not in ("text", "body_start")}


@to_json.register
def _(i: AddItem) -> dict[str, Any]:
    if i.status == "added":
        return {"item": i.item, "status": i.status, "id": i.source_id, "path": i.path, "warnings": list(i.warnings)}
    if i.status == "skipped":
        return {"item": i.item, "status": i.status, "message": i.message, "duplicate_of": i.duplicate_of}
    return {"item": i.item, "status": i.status, "message": i.message}


@to_json.register
def _(a: Added) -> dict[str, Any]:
    return {"results": [to_json(i) for i in a.items], "index": to_json(a.index) if a.index else None}


@to_json.register
def _(r: Removed) -> dict[str, Any]:
    return {"removed": dict(r.moved), "index": to_json(r.index) if r.index else None}


@to_json.register
def _(q: QuestionFailed) -> dict[str, Any]:
    return {"question": q.question, "error": q.error}


@to_json.register
def _(run: GoldRun) -> dict[str, Any]:
    return {"saved": run.saved,
            **{m: {k: v for k, v in r.items() if k != "questions"} for m, r in run.results.items()}}


@to_json.register
def _(run: QARun) -> dict[str, Any]:
    return {"dataset": run.name, "articles": run.articles, "passages": run.passages, "results": run.results,
            "baselines": run.baselines, "abstention_curve": run.curve}


@to_json.register
def _(run: BeirRun) -> dict[str, Any]:
    return {"dataset": run.dataset, "documents": run.documents, "queries": run.queries, **run.modes}


def source_dict(s: SourceInfo) -> dict[str, Any]:
    return {"id": s.id, "path": s.path, "title": s.title, "publisher": s.publisher, "author": s.author,
            "published": s.published}


def _location(loc: Location) -> dict[str, Any]:
    return {"id": loc.source.id, "path": loc.source.path, "start": loc.start, "end": loc.end}


def _citation(c: Citation) -> dict[str, Any]:
    return {"n": c.n, "quote": c.quote, "start": c.start, "end": c.end, "source": source_dict(c.source),
            "also_in": [_location(x) for x in c.also_in]}


def _passage(r: RankedPassage) -> dict[str, Any]:
    p = r.hit.passage
    return {"rank": r.rank, "score": round(r.hit.score, 6), "text": p.text, "start": p.start, "end": p.end,
            "source": source_dict(r.hit.source), "also_in": [_location(x) for x in r.also_in]}


# -- text -------------------------------------------------------------------------------------------------------

@functools.singledispatch
def to_text(value: object) -> list[Line]:
    """A typed result as lines for the terminal."""
    raise TypeError(f"no text rendering for {type(value).__name__}")


def cite_line(s: SourceInfo) -> str:
    """'Title — Publisher, 2021-06-17' with whatever is known."""
    extra = ", ".join(x for x in (s.publisher, s.published) if x)
    return f"{s.title}" + (f" — {extra}" if extra else "")


@to_text.register
def _(a: Answer) -> list[Line]:
    lines = [a.text, ""]
    for c in a.citations:
        lines.append(f"[{c.n}] {cite_line(c.source)} ({c.source.path}, characters {c.start}–{c.end})")
        if c.also_in:
            lines.append("    also in: " + "; ".join(cite_line(x.source) for x in c.also_in))
    if a.abstained and a.passages:
        lines.append("Nearest passages:")
        for r in a.passages:
            snippet = " ".join(r.hit.passage.text.split())
            lines.append(f"  {r.rank}. {snippet[:200]}{'…' if len(snippet) > 200 else ''} — {cite_line(r.hit.source)}")
    return [Line("\n".join(lines).rstrip())]


@to_text.register
def _(r: UpdateReport) -> list[Line]:
    out = [Line(f"warning: {w}", err=True) for w in r.warnings]
    if r.generation is None:
        return [*out, Line(f"index is up to date: {r.sources} articles, {r.passages} passages")]
    return [*out, Line(
        f"indexed {r.sources} articles, {r.passages} passages "
        f"({len(r.plan.new)} new, {len(r.plan.changed)} changed, {len(r.plan.deleted)} removed; "
        f"{r.embedded} passages embedded, {r.reused} reused, {r.sentences_embedded} sentences embedded)")]


@to_text.register
def _(s: Status) -> list[Line]:
    model = s.model
    lines = [
        f"archive:  {s.archive_sources} articles",
        f"index:    {s.indexed_sources} articles, {s.passages} passages"
        + (f", model {model.name} ({model.dim} dims, {model.backend}), built {s.built}" if model else " (not built)"),
    ]
    for kind, ids in (("new", s.plan.new), ("changed", s.plan.changed), ("deleted", s.plan.deleted)):
        if ids:
            lines.append(f"{kind + ':':9} " + ", ".join(ids))
    lines.append("up to date" if s.up_to_date else "stale: run `assistant index`")
    return [Line("\n".join(lines))]


@to_text.register
def _(s: Source) -> list[Line]:
    meta = ", ".join(x for x in (s.publisher, s.published) if x)
    return [Line(f"{s.id}  {s.title}" + (f"  ({meta})" if meta else ""))]


@to_text.register
def _(i: AddItem) -> list[Line]:
    if i.status == "added":
        return [Line(f"added {i.path}"), *(Line(f"warning: {w}", err=True) for w in i.warnings)]
    if i.status == "skipped":
        return [Line(i.message or "", err=True)]
    return [Line(f"error: {i.message}", err=True)]


@to_text.register
def _(a: Added) -> list[Line]:
    return [line for i in a.items for line in to_text(i)] + (to_text(a.index) if a.index else [])


@to_text.register
def _(r: Removed) -> list[Line]:
    lines = [Line(f"removed {sid} (kept as {path})") for sid, path in r.moved.items()]
    return lines + (to_text(r.index) if r.index else [])


@to_text.register
def _(q: QuestionFailed) -> list[Line]:
    return [Line(f"error: {q.error}")]


@to_text.register
def _(run: GoldRun) -> list[Line]:
    lines = [Line("\n\n".join(reports.table(run.results, split) for split in ("all", "tune", "heldout")))]
    for extra in (reports.style_table(run.results), reports.curve_table(run.results)):
        if extra:
            lines.append(Line("\n" + extra))
    if run.saved:
        lines.append(Line(f"\nsaved {run.saved} and {run.saved.removesuffix('.json')}.png"))
    return lines


_QA_SHOWN = ("answer_accuracy", "first_quote_accuracy", "chars_per_answer", "passage_recall@5",
             "abstention_precision", "abstention_recall", "false_abstention")


@to_text.register
def _(run: QARun) -> list[Line]:
    width = max(len(m) for m in _QA_SHOWN) + 2
    lines = [f"{run.name}: {run.articles} articles, {run.passages:,} passages, "
             f"{run.results['all']['answerable']} answerable + {run.results['all']['unanswerable']} unanswerable",
             f"{'':<{width}}" + "".join(f"{s:>10}" for s in SPLITS)]
    for metric in _QA_SHOWN:
        lines.append(f"{metric:<{width}}" + "".join(f"{_cell(run.results[s][metric], metric):>10}" for s in SPLITS))
    for field in ("by_style", "by_kind"):
        for value, by_split in run.results.get(field, {}).items():
            lines.append(f"{'answer_accuracy ' + value:<{width}}"
                         + "".join(f"{_cell(by_split[s]['answer_accuracy'], ''):>10}" for s in SPLITS))
    lines.append("")
    lines.append(f"{'naive quoters (never abstain)':<{width}}" + "".join(f"{s:>10}" for s in SPLITS) + f"{'chars':>8}")
    for name, by_split in run.baselines.items():
        lines.append(f"{name:<{width}}" + "".join(f"{_cell(by_split[s]['answer_accuracy'], ''):>10}" for s in SPLITS)
                     + f"{_cell(by_split['all']['chars_per_answer'], 'chars_per_answer'):>8}")
    lines.append("")
    lines.append(f"{'abstain if confidence below':<{width}}{'precision':>10}{'recall':>10}{'false abst':>12}")
    for r in run.curve:
        lines.append(f"{r['threshold']:<{width}.2f}{_cell(r['abstention_precision'], ''):>10}"
                     f"{_cell(r['abstention_recall'], ''):>10}{_cell(r['false_abstention'], ''):>12}")
    return [Line("\n".join(lines))]


def _cell(value: object, metric: str) -> str:
    if value is None:
        return "—"
    return f"{float(value):.0f}" if metric == "chars_per_answer" else f"{float(value):.3f}"  # type: ignore[arg-type]


@to_text.register
def _(run: BeirRun) -> list[Line]:
    lines = [f"{run.dataset}: {run.documents:,} documents, {run.queries} queries",
             f"{'mode':<8}{'nDCG@10':>10}{'R@100':>10}"]
    for mode in ("dense", "bm25", "hybrid"):
        if mode in run.modes:
            lines.append(f"{mode:<8}{run.modes[mode]['ndcg@10']:>10.3f}{run.modes[mode]['recall@100']:>10.3f}")
    return [Line("\n".join(lines))]

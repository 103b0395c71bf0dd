"""JSON and text renderings of answers: the one place the output contract is written."""

from __future__ import annotations

from typing import Any

from .types import Answer, Citation, Location, RankedPassage, SourceInfo


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


def answer_dict(a: Answer) -> dict[str, Any]:
    """The JSON object documented in the README (keep it stable: tools rely on it)."""
    return {"question": a.question, "abstained": a.abstained, "answer": a.text,
            "citations": [_citation(c) for c in a.citations], "passages": [_passage(r) for r in a.passages]}


def cite_line(s: SourceInfo) -> str:
    """'Title — Publisher, 2021-06-17' with whatever is known."""
    extra = ", ".join(x for x in (s.publisher, s.published) if x)
    return f"{s.title}" + (f" — {extra}" if extra else "")


def answer_text(a: Answer) -> str:
    """A readable answer for the terminal."""
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
    return "\n".join(lines).rstrip()

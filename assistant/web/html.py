"""HTML for the web chat: answers and the sources panel. Every piece of article text is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..config import Settings
from ..errors import SourceError
from ..render import cite_line
from ..sources import read_source
from ..types import Answer, Citation, Location, RankedPassage, Source, SourceInfo

CONTEXT_CHARS = 700  # shown on each side of a quote when its paragraph is longer
NEAREST_SHOWN = 3  # under an abstention in the chat; the sources panel lists all k
SNIPPET_CHARS = 220
EMPTY_PANEL = '<p class="placeholder">Cited passages appear here, in context.</p>'


def answer_message(answer: Answer, searched: str | None = None) -> str:
    """The assistant's chat message: quotes with [n] markers and their articles, or the abstention."""
    parts = []
    if answer.abstained:
        parts.append(f"<p><strong>{escape(answer.text)}</strong></p>")
        if answer.passages:
            near = "".join(f"<li>{_text(_snippet(r.hit.passage.text))} <em>— {escape(cite_line(r.hit.source))}</em>"
                           "</li>" for r in answer.passages[:NEAREST_SHOWN])
            parts.append("<p>Nearest passages (they do not answer it; more under Sources):</p>"
                         f'<ul class="nearest">{near}</ul>')
    for c in answer.citations:
        span = escape(f"{c.source.path}:{c.start}:{c.end}")
        parts.append(f'<blockquote class="quote" data-span="{span}">{_text(c.quote)} <b>[{c.n}]</b></blockquote>')
    if answer.citations:
        parts.append("<p class=\"cites\">" + "<br>".join(_cite(c) for c in answer.citations) + "</p>")
    if searched:
        parts.append(f'<p class="searched"><em>Read as a follow-up; searched for:</em> {escape(searched)}</p>')
    return "\n".join(parts)


def error_message(message: str) -> str:
    return f'<p class="error">⚠ {escape(message)}</p>'


def sources_panel(answer: Answer, settings: Settings) -> str:
    """Every cited passage in its paragraph with the quote highlighted; for an abstention, the nearest passages."""
    files: dict[str, Source | None] = {}
    if answer.citations:
        return "\n".join(_citation_section(c, _file(c.source, settings, files)) for c in answer.citations)
    if not answer.passages:
        return '<p class="placeholder">Nothing in the archive comes close.</p>'
    items = [_nearest(r, _file(r.hit.source, settings, files)) for r in answer.passages]
    return "<h3>Nearest passages (they do not answer the question)</h3>\n" + "\n".join(items)


def _citation_section(c: Citation, src: Source | None) -> str:
    head = f'<h4>[{c.n}] {escape(c.source.title)}</h4>\n<p class="meta">{_meta(c.source, c.start, c.end)}</p>'
    if src is None or src.text[c.start:c.end] != c.quote:
        body = f'<p class="context"><mark>{_text(c.quote)}</mark></p><p class="warning">The article has changed ' \
               "since it was indexed.</p>"
    else:
        body = f'<p class="context">{_highlighted(src, c.start, c.end, *_paragraph(src, c.start, c.end))}</p>'
        body += ("\n<details><summary>Read the whole article</summary>"
                 f'<div class="article">{_highlighted(src, c.start, c.end, src.body_start, len(src.text))}</div>'
                 "</details>")
    return f'<section class="source" id="cite-{c.n}">\n{head}\n{body}\n{_also(c.also_in)}</section>'


def _nearest(r: RankedPassage, src: Source | None) -> str:
    p = r.hit.passage
    shown = p.text if src is None else src.text[p.start:p.end]
    return (f'<section class="source nearest"><h4>{r.rank}. {escape(r.hit.source.title)}</h4>'
            f'<p class="meta">{_meta(r.hit.source, p.start, p.end)}</p>'
            f'<p class="context">{_text(shown)}</p>{_also(r.also_in)}</section>')


def _also(locations: tuple[Location, ...]) -> str:
    if not locations:
        return ""
    names = "; ".join(escape(cite_line(x.source)) for x in locations)
    return f'<p class="also">Also in {len(locations)} other article{"s" * (len(locations) > 1)}: {names}</p>'


def _cite(c: Citation) -> str:
    also = f" (also in {len(c.also_in)} other article{'s' * (len(c.also_in) > 1)})" if c.also_in else ""
    return f"[{c.n}] {escape(cite_line(c.source))}{also}"


def _meta(s: SourceInfo, start: int, end: int) -> str:
    fields = [s.publisher, s.published, f"by {s.author}" if s.author else None,
              f"{s.path}, characters {start:,}–{end:,}"]
    return " · ".join(escape(f) for f in fields if f)


def _paragraph(src: Source, start: int, end: int) -> tuple[int, int]:
    """The blank-line-separated paragraph around ``text[start:end]``, cut to CONTEXT_CHARS each side."""
    text = src.text
    begin = max(text.rfind("\n\n", 0, start) + 2, src.body_start, start - CONTEXT_CHARS)
    stop = text.find("\n\n", end)
    stop = min(len(text) if stop < 0 else stop, end + CONTEXT_CHARS)
    return begin, stop


def _highlighted(src: Source, start: int, end: int, begin: int, stop: int) -> str:
    text = src.text
    before = ("…" if begin > src.body_start and text[begin - 1] != "\n" else "") + text[begin:start]
    after = text[end:stop] + ("…" if stop < len(text) and text[stop] != "\n" else "")
    return f"{_text(before)}<mark>{_text(text[start:end])}</mark>{_text(after)}"


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


def _text(s: str) -> str:
    """Escaped, with line breaks kept visible."""
    return escape(s).replace("\n", "<br>")


def _file(source: SourceInfo, settings: Settings, cache: dict[str, Source | None]) -> Source | None:
    if source.path not in cache:
        try:
            cache[source.path] = read_source(Path(settings.root) / source.path, settings)
        except SourceError:
            cache[source.path] = None  # removed or damaged since it was indexed
    return cache[source.path]

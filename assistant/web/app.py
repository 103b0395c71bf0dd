"""The web chat's handlers over an ``Assistant``. They render answers and manage articles; they do not retrieve.

Handlers are plain methods of ``App`` so tests can call them without a browser; ``ui`` lays them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from html import escape, unescape
from pathlib import Path
from typing import Any

from .. import sources
from ..answer import conversation
from ..answer.retrieve import Filters
from ..config import Settings
from ..errors import AssistantError, IndexBusyError
from ..evals.gold import load_gold
from ..session import Assistant
from . import articles
from . import html as _html

EXAMPLES = 4
REFUSED = "Sign in as an editor to add, remove or restore articles."
# The chat renders messages as markdown. A question is stored with HTML's special characters and
# every character markdown gives meaning to written as character references, which markdown shows as
# plain text: "![x](http://…)" stays words, never an image or a link. html.unescape reads it back.
_MARKDOWN = "\\`*_~[]!#|$:@.+-{}"
_SHOWN = str.maketrans({**{c: f"&#{ord(c)};" for c in _MARKDOWN},
                        "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


class App:
    """The state one server shares between sessions: the Assistant and the archive watch."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.watch = articles.Watch(assistant)

    # -- chat ---------------------------------------------------------------------------------------------------
    def respond(self, message: str, history: list[dict[str, Any]] | None, mode: str = "hybrid", k: int = 5,
                sources: list[str] | None = None, publishers: list[str] | None = None, since: str = "",
                until: str = "") -> tuple[list[dict[str, Any]], str, str]:
        """Answer ``message``; returns the new history, the sources panel and the cleared input box."""
        history = list(history or [])
        if not (message or "").strip():
            return history, _html.EMPTY_PANEL, ""
        searched = conversation.search_text(message, user_questions(history))
        # A follow-up asks for something new: it is searched for in the context of the question before it,
        # its quotes are judged by what it asks itself, and an earlier answer's main quote is not given again.
        follow_up = searched != message.strip()
        exclude = earlier_quotes(history) if follow_up else []
        try:
            self.refresh()
            filters = Filters(tuple(sources or ()), tuple(publishers or ()), _date(since, "from"), _date(until, "to"))
            answer = self.assistant.ask(searched, k=int(k), mode=mode, filters=filters, exclude=exclude,
                                        focus=message.strip() if follow_up else None)
        except AssistantError as exc:
            reply, panel = _html.error_message(str(exc)), _html.EMPTY_PANEL
        else:
            reply = _html.answer_message(answer, searched if follow_up else None)
            panel = _html.sources_panel(answer, self.settings)
        history += [{"role": "user", "content": shown_question(message)}, {"role": "assistant", "content": reply}]
        return history, panel, ""

    def refresh(self) -> bool:
        """Index articles added to ``sources/`` by other means, if nobody else is; True when the index changed.

        Never waits: while another update runs (in this process or another), a question is answered from
        the last committed generation.
        """
        try:
            return self.watch.refresh(wait=False) is not None
        except IndexBusyError:
            return False

    def examples(self) -> list[str]:
        return example_questions(self.settings)

    # -- articles (editors only: ``editor`` is the signed-in editor's name, None for anyone else) ----------------
    def add_upload(self, path: str | None, title: str, publisher: str, published: str, *,
                   editor: str | None) -> str:
        if not editor:
            return _status(REFUSED, error=True)
        if not path:
            return _status("Choose a .txt, .md or .html file first.", error=True)
        name = Path(path).name
        return self._added(lambda: articles.import_upload(path, name, self.settings, **_meta(title, publisher,
                                                                                              published)))

    def add_pasted(self, title: str, text: str, publisher: str, published: str, *, editor: str | None) -> str:
        if not editor:
            return _status(REFUSED, error=True)
        meta = _meta(None, publisher, published)
        del meta["title"]
        return self._added(lambda: articles.import_pasted(title or "", text or "", self.settings, **meta))

    def remove(self, source_id: str | None, *, editor: str | None) -> str:
        def take_out(chosen: str, by: str) -> str:
            moved = self.settings.relative(sources.remove(chosen, self.settings, by=by))
            return f"Removed {chosen}; the file is kept in {moved} and can be restored below."

        return self._change(source_id, "Choose an article to remove.", take_out, editor)

    def restore(self, kept: str | None, *, editor: str | None) -> str:
        def put_back(chosen: str, by: str) -> str:
            return f"Restored {self.settings.relative(sources.restore(chosen, self.settings, by=by))}."

        return self._change(kept, "Choose a removed article to restore.", put_back, editor)

    def _change(self, chosen: str | None, missing: str, change: Callable[[str, str], str], editor: str | None) -> str:
        """Run an editor's ``change`` of the archive on ``chosen``, then index it; refused for anyone else."""
        if not editor:
            return _status(REFUSED, error=True)
        if not chosen:
            return _status(missing, error=True)
        try:
            done = change(chosen, editor)
            self.watch.refresh()
        except AssistantError as exc:
            return _status(str(exc), error=True)
        return _status(done)

    def removed_choices(self) -> list[tuple[str, str]]:
        """What can be restored, newest first: (what, when, who) shown, the kept file's name as the value."""
        return [(f"{r.title} ({r.source_id}), removed {r.at.replace('T', ' ')} by {r.by or 'unknown'}", r.kept)
                for r in sources.removals(self.settings)]

    def _added(self, do: Callable[[], sources.AddResult]) -> str:
        try:
            added = do()
        except AssistantError as exc:
            return _status(str(exc), error=True)
        try:
            report = self.watch.refresh(progress=True)
        except AssistantError as exc:
            return _status(f"Added {self.settings.relative(added.path)}, but indexing failed: {exc}", error=True)
        count = next((r.passages for r in self.rows() if r.id == added.source_id), None)
        lines = [f"Added {self.settings.relative(added.path)}"
                 + (f" ({count} passages indexed)." if report and count is not None else ".")]
        return _status(" ".join(lines + [f"Warning: {w}" for w in added.warnings]))

    def rows(self) -> list[articles.Row]:
        return articles.rows(self.settings, self.assistant.manifest())

    def table(self) -> list[list[Any]]:
        return [[r.title, r.publisher or "", r.published or "", "" if r.passages is None else r.passages, r.id]
                for r in self.rows()]

    def choices(self) -> tuple[list[tuple[str, str]], list[str]]:
        """Filter choices: (title, id) per article, and the publishers."""
        rows = self.rows()
        return [(r.title, r.id) for r in rows], sorted({r.publisher for r in rows if r.publisher})


def shown_question(message: str) -> str:
    """A question as the chat shows it: on one line, with no live HTML or markdown (see ``_SHOWN``)."""
    return " ".join(message.split()).translate(_SHOWN)


_SPAN = re.compile(r'data-span="([^"]+):(\d+):(\d+)"')


def earlier_quotes(history: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """The main (first) quote of each of the assistant's earlier answers in a chat history, as (path, start, end)."""
    out = []
    for m in history:
        if m.get("role") == "assistant" and isinstance(m.get("content"), str):
            first = _SPAN.search(m["content"])
            if first:
                out.append((unescape(first.group(1)), int(first.group(2)), int(first.group(3))))
    return out


def user_questions(history: list[dict[str, Any]]) -> list[str]:
    """The user's questions in a chat history (messages format), oldest first."""
    out: list[str] = []
    for m in history:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        parts = content if isinstance(content, list) else [content]
        text = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts if p)
        out.append(unescape(text))
    return out


def example_questions(settings: Settings, limit: int = EXAMPLES) -> list[str]:
    """Questions from the gold set about articles in the archive, one per article, in file order."""
    path = settings.root / "evals" / "gold.jsonl"
    if not path.is_file():
        return []
    try:
        gold = load_gold(path)
    except AssistantError:
        return []  # a damaged gold set costs the examples, not the chat
    present = {p.stem for p in sources.archive_paths(settings)}
    picked: dict[str, str] = {}
    for q in gold:
        if q.answers and q.sources and set(q.sources) <= present and q.sources[0] not in picked:
            picked[q.sources[0]] = q.question
    return list(picked.values())[:limit]


def _date(value: str, which: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise AssistantError(f"the '{which}' date {value!r} is not a date; use YYYY-MM-DD") from None


def _meta(title: str | None, publisher: str, published: str) -> dict[str, str | None]:
    return {"title": (title or "").strip() or None, "publisher": (publisher or "").strip() or None,
            "published": (published or "").strip() or None}


def _status(text: str, error: bool = False) -> str:
    return f'<p class="{"error" if error else "ok"}">{"⚠ " if error else ""}{escape(text)}</p>'


__all__ = ["App", "shown_question", "user_questions", "example_questions"]

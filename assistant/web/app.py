"""The web chat: a Gradio app over ``answer.ask``. It renders answers and manages articles; it does not retrieve.

Handlers are plain methods of ``App`` so tests can call them without a browser.
"""

from __future__ import annotations

import json
import os
from datetime import date
from html import escape, unescape
from pathlib import Path
from typing import Any

from . import articles, html as _html
from ..answer import conversation
from ..answer.quotes import ask, shared_retriever
from ..config import Settings
from ..errors import AssistantError, IndexBusyError
from ..answer.retrieve import Filters

EXAMPLES = 4
REFRESH_SECONDS = 5.0
CSS = """
.quote { border-left: 3px solid #c58b00; margin: .4em 0; padding-left: .6em; }
.sources mark, .article mark { background: #ffe58a; color: inherit; padding: 0 .1em; }
.source { border-bottom: 1px solid #ddd; padding: .4em 0 .8em; }
.source .meta, .searched, .also { color: #666; font-size: .9em; }
.article { max-height: 24em; overflow-y: auto; font-size: .92em; }
.error { color: #b00020; }
"""


class App:
    """The state one server shares between sessions: settings and the archive watch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.watch = articles.Watch(settings)

    # -- chat ---------------------------------------------------------------------------------------------------
    def respond(self, message: str, history: list[dict[str, Any]] | None, mode: str = "hybrid", k: int = 5,
                sources: list[str] | None = None, publishers: list[str] | None = None, since: str = "",
                until: str = "") -> tuple[list[dict[str, Any]], str, str]:
        """Answer ``message``; returns the new history, the sources panel and the cleared input box."""
        history = list(history or [])
        if not (message or "").strip():
            return history, _html.EMPTY_PANEL, ""
        searched = conversation.search_text(message, user_questions(history))
        try:
            self.refresh()
            filters = Filters(tuple(sources or ()), tuple(publishers or ()), _date(since, "from"), _date(until, "to"))
            answer = ask(searched, self.settings, k=int(k), mode=mode, filters=filters)
        except AssistantError as exc:
            reply, panel = _html.error_message(str(exc)), _html.EMPTY_PANEL
        else:
            reply = _html.answer_message(answer, searched if searched != message.strip() else None)
            panel = _html.sources_panel(answer, self.settings)
        history += [{"role": "user", "content": escape(message)}, {"role": "assistant", "content": reply}]
        return history, panel, ""

    def refresh(self) -> bool:
        """Index articles added to ``sources/`` by other means; True when the index changed."""
        try:
            return self.watch.refresh() is not None
        except IndexBusyError:
            return False  # another process is indexing; answer from the current index meanwhile

    def examples(self) -> list[str]:
        return example_questions(self.settings)

    # -- articles -----------------------------------------------------------------------------------------------
    def add_upload(self, path: str | None, title: str, publisher: str, published: str) -> str:
        if not path:
            return _status("Choose a .txt, .md or .html file first.", error=True)
        name = Path(path).name
        return self._added(lambda: articles.import_upload(path, name, self.settings, **_meta(title, publisher,
                                                                                              published)))

    def add_pasted(self, title: str, text: str, publisher: str, published: str) -> str:
        meta = _meta(None, publisher, published)
        del meta["title"]
        return self._added(lambda: articles.import_pasted(title or "", text or "", self.settings, **meta))

    def remove(self, source_id: str | None) -> str:
        if not source_id:
            return _status("Choose an article to remove.", error=True)
        try:
            moved = articles.remove(source_id, self.settings)
            self.watch.refresh()
        except AssistantError as exc:
            return _status(str(exc), error=True)
        return _status(f"Removed {source_id}; the file is kept in {self.settings.relative(moved)}.")

    def _added(self, do: Any) -> str:
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
        try:
            manifest = shared_retriever(self.settings).snapshot.manifest
        except AssistantError:
            manifest = None
        return articles.rows(self.settings, manifest)

    def table(self) -> list[list[Any]]:
        return [[r.title, r.publisher or "", r.published or "", "" if r.passages is None else r.passages, r.id]
                for r in self.rows()]

    def choices(self) -> tuple[list[tuple[str, str]], list[str]]:
        """Filter choices: (title, id) per article, and the publishers."""
        rows = self.rows()
        return [(r.title, r.id) for r in rows], sorted({r.publisher for r in rows if r.publisher})


def user_questions(history: list[dict[str, Any]]) -> list[str]:
    """The user's questions in a chat history (messages format), oldest first."""
    out = []
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
    gold = settings.root / "evals" / "gold.jsonl"
    present = {p.stem for p in articles.sources.archive_paths(settings)}
    picked: dict[str, str] = {}
    if gold.is_file():
        for line in gold.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            srcs = row.get("sources") or []
            if row.get("answers") and srcs and set(srcs) <= present and srcs[0] not in picked:
                picked[srcs[0]] = row["question"]
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


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, concurrency: int = 2) -> None:
    """Index what is new, load the model and index once, and serve the app until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .ui import build

    app = App(settings)
    app.watch.refresh(progress=True)
    shared_retriever(settings)  # load the model and index now, not on the first question
    demo = build(app)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(server_name=host, server_port=port, max_file_size=settings.max_file_bytes, show_error=True,
                footer_links=[], css=CSS)


__all__ = ["App", "serve", "user_questions", "example_questions"]

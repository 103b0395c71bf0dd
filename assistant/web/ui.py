"""The Gradio layout of the web chat: components and events, wired to ``App``'s handlers, and serving it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from ..config import MODES
from ..session import Assistant
from . import html as _html
from .app import App
from .auth import Access
from .server import make_app

TITLE = "News archive assistant"
REFRESH_SECONDS = 5.0
CSS = """
.quote { border-left: 3px solid #c58b00; margin: .4em 0; padding-left: .6em; }
.sources mark, .article mark { background: #ffe58a; color: inherit; padding: 0 .1em; }
.source { border-bottom: 1px solid #ddd; padding: .4em 0 .8em; }
.source .meta, .searched, .also { color: #666; font-size: .9em; }
.article { max-height: 24em; overflow-y: auto; font-size: .92em; }
.error { color: #b00020; }
"""
INTRO = ("Ask about the articles in the archive. Every answer is made of verbatim quotes, each with a numbered "
         "citation; when the articles do not answer, the assistant says so.")


def build(app: App, access: Access) -> gr.Blocks:
    """The app's Blocks: a Chat tab and an Articles tab (whose editing part only editors see and can use)."""
    # Uploads not added within an hour are deleted; an added one is deleted at once (``_discard``).
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                source_pick, publisher_pick = _chat_tab(app)
            with gr.Tab("Articles", id="articles"):
                table, tools = _articles_tab(app, access)
        outputs = [table, source_pick, publisher_pick, *tools.picks]

        def refreshed(request: gr.Request) -> tuple[Any, ...]:
            ids, pubs = app.choices()
            shown = (app.table(), gr.update(choices=ids), gr.update(choices=pubs))
            if not tools.picks:
                return shown
            if access.editor(request) is None:  # what was removed, and by whom, is for editors' eyes
                return (*shown, gr.skip(), gr.skip())
            return (*shown, gr.update(choices=ids, value=None), gr.update(choices=app.removed_choices(), value=None))

        def ticked(request: gr.Request) -> tuple[Any, ...]:
            return refreshed(request) if app.refresh() else (gr.skip(),) * len(outputs)

        def signed_in(request: gr.Request) -> tuple[str, Any]:
            return _signed_in(access, request)

        demo.load(refreshed, None, outputs, api_visibility="private")
        if tools.panel is not None:
            demo.load(signed_in, None, [tools.signin, tools.panel], api_visibility="private")
        timer = gr.Timer(REFRESH_SECONDS)
        timer.tick(ticked, None, outputs, api_visibility="private", show_progress="hidden")
        for event in tools.changes:
            event.then(refreshed, None, outputs, api_visibility="private", show_progress="hidden")
    return demo  # type: ignore[no-any-return]


def _chat_tab(app: App) -> tuple[gr.Dropdown, gr.Dropdown]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Answers", height=520, elem_id="chat",
                                 examples=[{"text": q} for q in app.examples()],
                                 placeholder="Ask a question, or pick one of these:", buttons=["copy"])
            with gr.Row():
                box = gr.Textbox(placeholder="e.g. How many referrals were there in 2019-20?", show_label=False,
                                 scale=5, elem_id="question", max_length=2000, submit_btn=False)
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            clear = gr.ClearButton([chatbot, box], value="New conversation", size="sm")
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            panel = gr.HTML(_html.EMPTY_PANEL, elem_id="sources", elem_classes=["sources"])
    with gr.Accordion("Search settings", open=False):
        with gr.Row():
            mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval", elem_id="mode")
            k = gr.Slider(1, 10, value=5, step=1, label="Passages", elem_id="k")
        with gr.Row():
            source_pick = gr.Dropdown([], multiselect=True, label="Only these articles", elem_id="only-sources")
            publisher_pick = gr.Dropdown([], multiselect=True, label="Only these publishers")
            since = gr.Textbox(label="Published from (YYYY-MM-DD)")
            until = gr.Textbox(label="Published to (YYYY-MM-DD)")
    inputs = [box, chatbot, mode, k, source_pick, publisher_pick, since, until]
    outputs = [chatbot, panel, box]
    box.submit(app.respond, inputs, outputs, api_name="chat")
    send.click(app.respond, inputs, outputs, api_visibility="private")
    chatbot.example_select(_example(app), [mode, k, source_pick, publisher_pick, since, until], outputs,
                           api_visibility="private")
    clear.click(lambda: _html.EMPTY_PANEL, None, panel, api_visibility="private")
    return source_pick, publisher_pick


def _example(app: App) -> Any:
    def on_select(mode: str, k: int, sources: list[str], publishers: list[str], since: str, until: str,
                  evt: gr.SelectData) -> tuple[Any, ...]:
        return app.respond(evt.value["text"], [], mode, k, sources, publishers, since, until)

    return on_select


@dataclass
class _Tools:
    """The Articles tab's editing part: absent (None, empty) on a read-only server."""

    signin: gr.HTML | None = None
    panel: gr.Column | None = None
    picks: list[gr.Dropdown] = field(default_factory=list)  # remove, restore
    changes: list[Any] = field(default_factory=list)  # events that change the archive


def _articles_tab(app: App, access: Access) -> tuple[gr.Dataframe, _Tools]:
    tools = _Tools()
    if access.editing:
        tools.signin = gr.HTML(_signed_out_note(), elem_id="signin")
    else:
        gr.Markdown("This server is read-only: articles are added and removed with `assistant add` and "
                    "`assistant remove` where it runs.", elem_id="read-only")
    table = gr.Dataframe(headers=["Title", "Publisher", "Published", "Passages", "Id"], interactive=False,
                         wrap=True, column_widths=["44%", "14%", "11%", "8%", "23%"], elem_id="articles-table")
    if access.editing:
        with gr.Column(visible=False, elem_id="editor-tools") as panel:
            tools.panel = panel
            tools.picks, tools.changes = _editor_tools(app, access)
    return table, tools


def _editor_tools(app: App, access: Access) -> tuple[list[gr.Dropdown], list[Any]]:
    status = gr.HTML("", elem_id="articles-status")
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("#### Upload an article (.txt, .md, .html; up to 5 MB)")
            upload = gr.File(file_types=[".txt", ".md", ".html", ".htm"], type="filepath", elem_id="upload")
            up_title = gr.Textbox(label="Title (default: the article's own)")
            up_publisher = gr.Textbox(label="Publisher (optional)")
            up_date = gr.Textbox(label="Published (YYYY-MM-DD, optional)")
            up_button = gr.Button("Add uploaded article", elem_id="add-upload")
        with gr.Column():
            gr.Markdown("#### Or paste its text")
            paste_title = gr.Textbox(label="Title", elem_id="paste-title")
            paste_text = gr.Textbox(label="Article text", lines=8, elem_id="paste-text")
            paste_publisher = gr.Textbox(label="Publisher (optional)")
            paste_date = gr.Textbox(label="Published (YYYY-MM-DD, optional)")
            paste_button = gr.Button("Add pasted article", elem_id="add-paste")
    with gr.Row():
        # Any value is let through to the handler, which checks it: an editor's script need not load the page.
        remove_pick = gr.Dropdown([], label="Remove an article", elem_id="remove-pick", allow_custom_value=True)
        remove_button = gr.Button("Remove", variant="stop", elem_id="remove")
    with gr.Row():
        restore_pick = gr.Dropdown([], label="Undo a removal (the last copies kept in sources/.removed/)",
                                   elem_id="restore-pick", allow_custom_value=True)
        restore_button = gr.Button("Restore", elem_id="restore")

    # Every handler names the editor from the request's signed cookie; App refuses when there is none.
    def add_upload(path: str | None, title: str, publisher: str, published: str, request: gr.Request,
                   progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, None]:
        editor = access.editor(request)
        try:
            return app.add_upload(path, title, publisher, published, editor=editor), None
        finally:
            if editor is not None:
                _discard(path)

    def add_pasted(title: str, text: str, publisher: str, published: str, request: gr.Request,
                   progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
        return app.add_pasted(title, text, publisher, published, editor=access.editor(request))

    def remove(source_id: str | None, request: gr.Request) -> str:
        return app.remove(source_id, editor=access.editor(request))

    def restore(kept: str | None, request: gr.Request) -> str:
        return app.restore(kept, editor=access.editor(request))

    changes = [
        up_button.click(add_upload, [upload, up_title, up_publisher, up_date], [status, upload],
                        api_name="add_upload"),
        paste_button.click(add_pasted, [paste_title, paste_text, paste_publisher, paste_date], status,
                           api_name="add_pasted"),
        remove_button.click(remove, remove_pick, status, api_name="remove"),
        restore_button.click(restore, restore_pick, status, api_name="restore"),
    ]
    return [remove_pick, restore_pick], changes


def _signed_out_note() -> str:
    return ('<p class="signin">Reading and asking are open to everyone. <a href="login" id="sign-in-link">Sign in '
            "as an editor</a> to add, remove or restore articles.</p>")


def _signed_in(access: Access, request: gr.Request) -> tuple[str, Any]:
    editor = access.editor(request)
    if editor is None:
        return _signed_out_note(), gr.update(visible=False)
    return (f'<form class="signin" method="post" action="logout">Signed in as <b id="editor-name">{escape(editor)}'
            '</b> (editor). <button type="submit" id="sign-out">Sign out</button></form>', gr.update(visible=True))


def _discard(path: str | None) -> None:
    """Delete an upload from Gradio's folder once it is handled, so it is not left downloadable there."""
    if not path:
        return
    folder = Path(gr.utils.get_upload_folder()).resolve()
    file = Path(path).resolve()
    if file.is_relative_to(folder) and file != folder:
        file.unlink(missing_ok=True)
        if file.parent != folder:
            with contextlib.suppress(OSError):  # not empty: another upload of the same bytes is pending
                file.parent.rmdir()


def web_app(app: App, access: Access, concurrency: int = 2) -> FastAPI:
    """The Blocks, queued, behind the sign-in routes and the gate (``server.make_app``)."""
    demo = build(app, access)
    demo.queue(default_concurrency_limit=concurrency)
    settings = app.settings
    return make_app(demo, access, settings.max_file_bytes, settings.upload_max_bytes, CSS)


def serve(assistant: Assistant, access: Access, host: str = "127.0.0.1", port: int = 7860,
          concurrency: int = 2) -> None:
    """Index what is new, load the model and index once, say who can do what, and serve until interrupted."""
    import uvicorn

    app = App(assistant)
    app.watch.refresh(progress=True)
    assistant.retriever()  # load the model and index now, not on the first question
    with _private_upload_folder():
        server = web_app(app, access, concurrency)
        shown = f"[{host}]" if ":" in host else host
        for line in access.describe(f"http://{shown}:{port}/"):
            print(line, flush=True)
        uvicorn.run(server, host=host, port=port, log_level="warning")


@contextlib.contextmanager
def _private_upload_folder() -> Iterator[None]:
    """Gradio keeps uploads in ``GRADIO_TEMP_DIR`` (default: one folder shared by every Gradio app of the user).
    This server gets its own, private, deleted when it stops, unless one is set already."""
    if os.environ.get("GRADIO_TEMP_DIR"):
        yield
        return
    folder = tempfile.mkdtemp(prefix="assistant-uploads-")
    os.environ["GRADIO_TEMP_DIR"] = folder  # Gradio reads it when the Blocks and its app are made
    try:
        yield
    finally:
        os.environ.pop("GRADIO_TEMP_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)

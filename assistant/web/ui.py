"""The Gradio layout of the web chat: components and events, wired to ``App``'s handlers, and the server."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..config import MODES
from ..session import Assistant
from . import html as _html
from .app import App

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


def build(app: App) -> gr.Blocks:
    """The app's Blocks: a Chat tab and an Articles tab."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                controls = _chat_tab(app)
            with gr.Tab("Articles", id="articles"):
                table, remove_pick, changes = _articles_tab(app)
        source_pick, publisher_pick = controls

        def refreshed() -> tuple[Any, ...]:
            ids, pubs = app.choices()
            return (app.table(), gr.update(choices=ids), gr.update(choices=pubs),
                    gr.update(choices=ids, value=None))

        outputs = [table, source_pick, publisher_pick, remove_pick]
        demo.load(refreshed, None, outputs, api_visibility="private")
        timer = gr.Timer(REFRESH_SECONDS)
        timer.tick(lambda: refreshed() if app.refresh() else (gr.skip(),) * 4, None, outputs,
                   api_visibility="private", show_progress="hidden")
        for event in changes:
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


def _articles_tab(app: App) -> tuple[gr.Dataframe, gr.Dropdown, list[Any]]:
    table = gr.Dataframe(headers=["Title", "Publisher", "Published", "Passages", "Id"], interactive=False,
                         wrap=True, column_widths=["44%", "14%", "11%", "8%", "23%"], elem_id="articles-table")
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
        remove_pick = gr.Dropdown([], label="Remove an article", elem_id="remove-pick")
        remove_button = gr.Button("Remove", variant="stop", elem_id="remove")
    def add_upload(path: str | None, title: str, publisher: str, published: str,
                   progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
        return app.add_upload(path, title, publisher, published)

    def add_pasted(title: str, text: str, publisher: str, published: str,
                   progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
        return app.add_pasted(title, text, publisher, published)

    changes = [
        up_button.click(add_upload, [upload, up_title, up_publisher, up_date], status, api_name="add_upload"),
        paste_button.click(add_pasted, [paste_title, paste_text, paste_publisher, paste_date], status,
                           api_name="add_pasted"),
        remove_button.click(app.remove, remove_pick, status, api_name="remove"),
    ]
    return table, remove_pick, changes


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860, concurrency: int = 2) -> None:
    """Index what is new, load the model and index once, and serve the app until interrupted."""
    app = App(assistant)
    app.watch.refresh(progress=True)
    assistant.retriever()  # load the model and index now, not on the first question
    demo = build(app)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(server_name=host, server_port=port, max_file_size=assistant.settings.max_file_bytes,
                show_error=True, footer_links=[], css=CSS)

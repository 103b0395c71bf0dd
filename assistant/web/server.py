"""The HTTP server around the Gradio app: editors' sign-in, and a gate in front of Gradio's routes.

The gate refuses, before Gradio reads a byte of the body, every file upload from a visitor who is not a
signed-in editor, and every event request that carries a file object (Gradio would fetch or copy it into its
cache before any handler could refuse). Event handlers check the editor's cookie again themselves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from gradio_client.utils import is_file_obj_with_meta

from .auth import COOKIE, Access

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

API = "/gradio_api/"
FILE_ROUTES = ("upload", "process_recording", "stream/", "component_server")  # store or stream files
EVENT_ROUTES = ("queue/join", "call/", "run/", "api/")  # run an event with the data in the body
FAILED_SIGN_IN_DELAY = 1.0  # seconds, on top of the scrypt check: slows guessing
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Editor sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24em;margin:4em auto}}label,input,button{{display:block;
margin:.4em 0}}input{{width:100%;padding:.3em}}.error{{color:#b00020}}</style></head><body>
<h2>Editor sign-in</h2><p>Editors can add, remove and restore articles. Reading and asking need no sign-in.</p>
{message}<form method="post" action="login"><label>Name <input name="name" id="name" autocomplete="username"
required></label><label>Password <input name="password" id="password" type="password"
autocomplete="current-password" required></label><button type="submit" id="sign-in">Sign in</button></form>
<p><a href="./">Back to the chat</a></p></body></html>"""


def make_app(demo: gr.Blocks, access: Access, max_file_bytes: int, upload_max_bytes: int, css: str) -> FastAPI:
    """A FastAPI app serving ``demo`` at ``/`` behind the gate, with ``/login`` and ``/logout``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/login", response_class=HTMLResponse)
    def login_form() -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(message=_login_note(access)))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        editors = access.active
        if editors is not None and await asyncio.to_thread(editors.check, name, password):
            response: Response = RedirectResponse("./", status_code=303)
            response.set_cookie(COOKIE, access.sessions.issue(name), max_age=access.sessions.max_age,
                                httponly=True, samesite="strict", secure=request.url.scheme == "https")
            return response
        await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        note = '<p class="error" id="sign-in-error">That name and password do not match an editor.</p>'
        return HTMLResponse(LOGIN_PAGE.format(message=note), status_code=401)

    @app.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("./", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    app.add_middleware(Gate, access=access, upload_dir=Path(gr.utils.get_upload_folder()),
                       upload_max_bytes=upload_max_bytes, body_max_bytes=4 * max_file_bytes + 2**20)
    return gr.mount_gradio_app(app, demo, path="/", max_file_size=max_file_bytes, show_error=True,  # type: ignore[no-any-return]
                               footer_links=[], css=css)


def _login_note(access: Access) -> str:
    if not access.editing:
        return '<p class="error">This server is read-only: nobody can sign in to edit.</p>'
    return ""


class Gate:
    """ASGI middleware: what Gradio would store or fetch for a visitor is refused before Gradio sees it."""

    def __init__(self, app: ASGI, access: Access, upload_dir: Path, upload_max_bytes: int,
                 body_max_bytes: int) -> None:
        self.app = app
        self.access = access
        self.upload_dir = upload_dir
        self.upload_max_bytes = upload_max_bytes
        self.body_max_bytes = body_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _api_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        editor = self.access.editor_of(Request(scope).cookies)
        if route.startswith(FILE_ROUTES):
            refusal = self._refuse_file(editor)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        elif route.startswith(EVENT_ROUTES) and editor is None:
            body = await _read(receive, self.body_max_bytes)
            if body is None:
                await PlainTextResponse("request too large", status_code=413)(scope, receive, send)
                return
            if _carries_files(body):
                await PlainTextResponse("only a signed-in editor can send files", status_code=403)(
                    scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _refuse_file(self, editor: str | None) -> Response | None:
        if editor is None:
            return PlainTextResponse("sign in as an editor to upload", status_code=403)
        held = _folder_bytes(self.upload_dir)
        if held >= self.upload_max_bytes:
            return PlainTextResponse(f"the upload folder holds {held:,} bytes, the limit; add or wait for the "
                                     "earlier uploads to be cleaned", status_code=507)
        return None


def _api_route(scope: Scope) -> str | None:
    """The part after ``/gradio_api/`` of a POST, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = str(scope["path"])
    return path[len(API):] if path.startswith(API) else None


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then waits on the client as before (for a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _carries_files(body: bytes) -> bool:
    """Whether a JSON body holds a Gradio file object anywhere (an unparsable body is left to Gradio)."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_file_obj_with_meta(item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            continue
    return total

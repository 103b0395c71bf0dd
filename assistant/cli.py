"""The ``assistant`` command: parses options, calls the ``Assistant``, prints what ``render`` makes of the result."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import BACKENDS, MODES, STORES, Settings, from_env
from .errors import AssistantError, QuestionError
from .session import Assistant

Opener = Callable[[Settings], Assistant]


class _Group(click.Group):
    """Shows an AssistantError as one line on stderr and exits with its own code; other errors keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _emit(value: object, as_json: bool) -> None:
    """Print a typed result: one line of JSON, or its text rendering (some lines on stderr)."""
    from .render import dumps, to_text

    if as_json:
        click.echo(dumps(value))
        return
    for line in to_text(value):
        click.echo(line.text, err=line.err)


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="assistant")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Project folder holding sources/ and index/. [default: current folder]")
@click.option("--model", help="Embedding model: a sentence-transformers name or folder. [default: all-MiniLM-L6-v2]")
@click.option("--backend", type=click.Choice(BACKENDS),
              help="What embeds passages and questions (a change re-embeds at the next index). [default: onnx-int8]")
@click.pass_context
@click.option("--store", type=click.Choice(STORES), help="Where passages are searched. [default: faiss]")
@click.option("--qdrant-url", help="Qdrant server for --store qdrant (else local mode in --qdrant-path).")
@click.option("--qdrant-path", help="Folder of Qdrant's local mode. [default: index/qdrant]")
def cli(ctx: click.Context, root: Path | None, model: str | None, backend: str | None, store: str | None,
        qdrant_url: str | None, qdrant_path: str | None) -> None:
    """Answer questions about news articles with verbatim, cited quotes."""
    # A caller may hand in how to open the Assistant (tests give a fake encoder this way).
    opener: Opener = ctx.obj if callable(ctx.obj) else Assistant.open
    ctx.obj = opener(from_env(root=root, model=model, backend=backend, store=store, qdrant_url=qdrant_url,
                              qdrant_path=qdrant_path))


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--title", help="Title, instead of the one found in the article.")
@click.option("--publisher", help="Publisher, when the article names it.")
@click.option("--author", help="Author, when the article names one.")
@click.option("--published", help="Publication date, YYYY-MM-DD.")
@click.option("--url", help="Where the article was published.")
@click.option("--no-index", is_flag=True, help="Only archive; leave the index for `assistant index`.")
@click.option("--allow-private", is_flag=True,
              help="Also download URLs from loopback, private, link-local and reserved addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def add(assistant: Assistant, /, items: tuple[str, ...], no_index: bool, allow_private: bool, as_json: bool,
        **meta: str | None) -> None:
    """Import articles (.txt, .md, .html files, folders of them, or http(s) URLs) into sources/ and index them.

    Many files are indexed a batch at a time, each committed when done: run the same command
    again after an interruption and it goes on where it stopped."""
    added = assistant.add(items, index=not no_index, progress=_progress(as_json), allow_private=allow_private,
                          **meta)
    _emit(added, as_json)
    if added.failed:
        sys.exit(1)


@cli.command()
@click.option("--rebuild", is_flag=True, help="Re-embed every article, even if the index looks current or damaged.")
@click.option("--status", "show_status", is_flag=True, help="Report what is indexed and what is stale; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def index(assistant: Assistant, rebuild: bool, show_status: bool, as_json: bool, quiet: bool) -> None:
    """Bring the index up to date with sources/ (only new and changed articles are embedded)."""
    if show_status:
        _emit(assistant.status(), as_json)
        return
    _emit(assistant.update(rebuild=rebuild, progress=_progress(quiet or as_json)), as_json)


@cli.command()
@click.argument("question")
@click.option("--k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages to return.")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(MODES))
@click.option("--source", "sources", multiple=True, help="Only this source id (repeatable).")
@click.option("--publisher", "publishers", multiple=True, help="Only this publisher (repeatable).")
@click.option("--since", help="Only articles published on or after YYYY-MM-DD.")
@click.option("--until", help="Only articles published on or before YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object; with QUESTION '-', JSON Lines from stdin.")
@click.pass_obj
def ask(assistant: Assistant, question: str, k: int, mode: str, as_json: bool, sources: tuple[str, ...],
        publishers: tuple[str, ...], since: str | None, until: str | None) -> None:
    """Answer QUESTION with quotes from the articles ('-' reads one question per line from stdin)."""
    from .answer.retrieve import Filters
    from .render import QuestionFailed

    filters = Filters(tuple(sources), tuple(publishers), since, until)
    batch = question == "-"
    questions = [line for line in sys.stdin.read().splitlines() if line.strip()] if batch else [question]
    assistant.retriever()  # the model and index, loaded once for all questions
    for q in questions:
        try:
            result: object = assistant.ask(q, k=k, mode=mode, filters=filters)
        except QuestionError as exc:
            if not batch:
                raise
            result = QuestionFailed(q, str(exc))
        _emit(result, as_json)
        if len(questions) > 1 and not as_json and not isinstance(result, QuestionFailed):
            click.echo()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond this machine (e.g. 0.0.0.0) needs editors or --read-only.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Questions answered at the same time; more wait in the queue.")
@click.option("--editors", "editors_file", type=click.Path(dir_okay=False, path_type=Path),
              help="File of editors, one name:password a line (or set ASSISTANT_EDITORS / ASSISTANT_EDITORS_FILE).")
@click.option("--read-only", is_flag=True, help="No adding or removing from the web, whoever signs in.")
@click.pass_obj
def serve(assistant: Assistant, host: str, port: int, concurrency: int, editors_file: Path | None,
          read_only: bool) -> None:
    """Start the web chat (indexes new articles first; Ctrl-C stops it). Anyone can read and ask; editors
    sign in to add, remove and restore articles."""
    import os

    from .web.auth import access_for, load_editors
    from .web.ui import serve as run

    access = access_for(host, load_editors(os.environ, editors_file), read_only)
    run(assistant, access, host=host, port=port, concurrency=concurrency)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--no-index", is_flag=True, help="Only take the files out; leave the index for `assistant index`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def remove(assistant: Assistant, ids: tuple[str, ...], no_index: bool, as_json: bool) -> None:
    """Take articles out of the archive by id (kept in sources/.removed/ and logged; `assistant restore` undoes)."""
    _emit(assistant.remove(ids, index=not no_index, progress=_progress(as_json), by=_user()), as_json)


@cli.command()
@click.argument("which", required=False)
@click.option("--no-index", is_flag=True, help="Only put the file back; leave the index for `assistant index`.")
@click.pass_obj
def restore(assistant: Assistant, which: str | None, no_index: bool) -> None:
    """Put a removed article back (WHICH: its id or its file in sources/.removed/); without WHICH, list them."""
    from .sources import removals
    from .sources import restore as put_back

    if which is None:
        for r in removals(assistant.settings):
            click.echo(f"{r.kept}\t{r.title}\tremoved {r.at} by {r.by or 'unknown'}")
        return
    path = put_back(which, assistant.settings, by=_user())
    click.echo(f"Restored {assistant.settings.relative(path)}")
    if not no_index:
        _emit(assistant.update(progress=_progress(False)), False)


@cli.command(name="hash-password")
def hash_password() -> None:
    """Read a password (not echoed) and print its scrypt form for an editors file line name:<printed>."""
    from .web.auth import hash_password as scrypt

    click.echo(scrypt(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)))


def _user() -> str:
    import getpass

    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "command line"


@cli.command(name="eval")
@click.option("--gold", type=click.Path(dir_okay=False, path_type=Path), help="Gold set. [default: evals/gold.jsonl]")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(MODES))
@click.option("--compare", is_flag=True, help="Run dense, bm25 and hybrid in one run and print one table.")
@click.option("--beir", "beir_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Evaluate a BEIR dataset folder instead (nDCG@10, Recall@100 per mode).")
@click.option("--qa", "qa_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Evaluate answers on a folder of articles/ and questions.jsonl, in a temporary archive.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-save", is_flag=True, help="Do not write the run to evals/results/.")
@click.pass_obj
def eval_(assistant: Assistant, gold: Path | None, mode: str, compare: bool, beir_dir: Path | None,
          qa_dir: Path | None, as_json: bool, no_save: bool) -> None:
    """Measure answers and retrieval on the gold set (or a QA folder, or a BEIR dataset); runs are saved
    in evals/results/."""
    modes = MODES if compare or beir_dir else (mode,)
    progress = sys.stderr.isatty() and not as_json
    if qa_dir is not None:
        from .evals.qa import run_qa

        _emit(run_qa(qa_dir, assistant, progress=progress, wrap=_bar(progress)), as_json)
        return
    if beir_dir is not None:
        from .evals.beir import evaluate_beir

        _emit(evaluate_beir(beir_dir, assistant, modes, progress=progress, wrap=_bar(progress)), as_json)
        return
    from .evals.runner import evaluate_gold

    _emit(evaluate_gold(assistant, modes, gold, save=not no_save, progress=_bar(progress)), as_json)


def _bar(progress: bool) -> Callable[[Iterable[Any]], Iterable[Any]]:
    if not progress:
        return iter
    from tqdm import tqdm

    return lambda items: tqdm(items, desc="Questions", unit="q", leave=False)


@cli.command(name="sources")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one article a line.")
@click.pass_obj
def list_sources(assistant: Assistant, as_json: bool) -> None:
    """List the archived articles."""
    from .sources import readable_sources

    for source in readable_sources(assistant.settings, on_error=lambda exc: click.echo(f"! {exc}", err=True)):
        _emit(source, as_json)


def main() -> None:
    """Entry point of the ``assistant`` script."""
    cli(prog_name="assistant")

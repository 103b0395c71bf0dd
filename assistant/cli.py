"""The ``assistant`` command: a thin layer over the pipeline modules."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import Settings, from_env
from .errors import AssistantError, DuplicateSourceError, SourceError


class _Failure(click.ClickException):
    """An AssistantError shown as one line, with its own exit code."""

    def __init__(self, error: AssistantError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            raise _Failure(exc) from None
        except ValueError as exc:  # e.g. a malformed ASSISTANT_* variable
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="assistant")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Project folder holding sources/ and index/. [default: current folder]")
@click.option("--model", help="Embedding model: a sentence-transformers name or folder. [default: all-MiniLM-L6-v2]")
@click.option("--backend", type=click.Choice(["onnx-int8", "torch"]),
              help="What embeds passages and questions (a change re-embeds at the next index). [default: onnx-int8]")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, model: str | None, backend: str | None) -> None:
    """Answer questions about news articles with verbatim, cited quotes."""
    ctx.obj = from_env(root=root, model=model, backend=backend)


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--title", help="Title, instead of the one found in the article.")
@click.option("--publisher", help="Publisher, when the article names it.")
@click.option("--author", help="Author, when the article names one.")
@click.option("--published", help="Publication date, YYYY-MM-DD.")
@click.option("--url", help="Where the article was published.")
@click.option("--no-index", is_flag=True, help="Only archive; leave the index for `assistant index`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def add(settings: Settings, items: tuple[str, ...], no_index: bool, as_json: bool, **meta: str | None) -> None:
    """Import articles (.txt, .md, .html files or http(s) URLs) into sources/ and index them."""
    from . import sources

    results = []
    for item in items:
        try:
            added = sources.add(item, settings, **meta)
            results.append({"item": item, "status": "added", "id": added.source_id,
                            "path": settings.relative(added.path), "warnings": list(added.warnings)})
        except DuplicateSourceError as exc:
            results.append({"item": item, "status": "skipped", "message": str(exc), "duplicate_of": exc.existing_path})
        except SourceError as exc:
            results.append({"item": item, "status": "error", "message": str(exc)})
    report = None
    if not no_index and any(r["status"] == "added" for r in results):
        report = _update(settings, rebuild=False, quiet=as_json)
    if as_json:
        click.echo(json.dumps({"results": results, "index": report}, ensure_ascii=False))
    else:
        for r in results:
            _echo_add_result(r)
        if report:
            _echo_update(report)
    if any(r["status"] == "error" for r in results):
        sys.exit(1)


@cli.command()
@click.option("--rebuild", is_flag=True, help="Re-embed every article, even if the index looks current or damaged.")
@click.option("--status", "show_status", is_flag=True, help="Report what is indexed and what is stale; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def index(settings: Settings, rebuild: bool, show_status: bool, as_json: bool, quiet: bool) -> None:
    """Bring the index up to date with sources/ (only new and changed articles are embedded)."""
    if show_status:
        from .index.update import status

        info = status(settings)
        click.echo(json.dumps(info, ensure_ascii=False) if as_json else _format_status(info))
        return
    report = _update(settings, rebuild=rebuild, quiet=quiet or as_json)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _echo_update(report)


@cli.command()
@click.argument("question")
@click.option("--k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages to return.")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(["hybrid", "dense", "bm25"]))
@click.option("--source", "sources", multiple=True, help="Only this source id (repeatable).")
@click.option("--publisher", "publishers", multiple=True, help="Only this publisher (repeatable).")
@click.option("--since", help="Only articles published on or after YYYY-MM-DD.")
@click.option("--until", help="Only articles published on or before YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object; with QUESTION '-', JSON Lines from stdin.")
@click.pass_obj
def ask(settings: Settings, question: str, k: int, mode: str, as_json: bool, sources: tuple[str, ...],
        publishers: tuple[str, ...], since: str | None, until: str | None) -> None:
    """Answer QUESTION with quotes from the articles ('-' reads one question per line from stdin)."""
    from .answer.quotes import QuestionError, ask as answer, shared_retriever
    from .output import answer_dict, answer_text
    from .answer.retrieve import Filters

    filters = Filters(tuple(sources), tuple(publishers), since, until)
    questions = [line for line in sys.stdin.read().splitlines() if line.strip()] if question == "-" else [question]
    retriever = shared_retriever(settings)
    for q in questions:
        try:
            result = answer(q, settings, k=k, mode=mode, filters=filters, retriever=retriever)
        except QuestionError as exc:
            if question != "-":
                raise
            click.echo(json.dumps({"question": q, "error": str(exc)}, ensure_ascii=False) if as_json else f"error: {exc}")
            continue
        if as_json:
            click.echo(json.dumps(answer_dict(result), ensure_ascii=False))
        else:
            click.echo(answer_text(result) + ("\n" if len(questions) > 1 else ""))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 exposes the app).")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Questions answered at the same time; more wait in the queue.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, concurrency: int) -> None:
    """Start the web chat (indexes new articles first; Ctrl-C stops it)."""
    from .web.app import serve as run

    run(settings, host=host, port=port, concurrency=concurrency)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--no-index", is_flag=True, help="Only take the files out; leave the index for `assistant index`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def remove(settings: Settings, ids: tuple[str, ...], no_index: bool, as_json: bool) -> None:
    """Take articles out of the archive by id (the files are kept in sources/.removed/)."""
    from . import sources

    archived = {p.stem for p in sources.archive_paths(settings)}
    for sid in ids:  # all checked before any is moved
        if sid not in archived:
            raise SourceError(f"no article {sid!r} in {settings.relative(settings.sources_dir)}/; "
                              "`assistant sources` lists them")
    moved = [settings.relative(sources.remove(sid, settings)) for sid in ids]
    report = None if no_index else _update(settings, rebuild=False, quiet=as_json)
    if as_json:
        click.echo(json.dumps({"removed": dict(zip(ids, moved)), "index": report}, ensure_ascii=False))
        return
    for sid, path in zip(ids, moved):
        click.echo(f"removed {sid} (kept as {path})")
    if report:
        _echo_update(report)


@cli.command(name="eval")
@click.option("--gold", type=click.Path(dir_okay=False, path_type=Path), help="Gold set. [default: evals/gold.jsonl]")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(["hybrid", "dense", "bm25"]))
@click.option("--compare", is_flag=True, help="Run dense, bm25 and hybrid in one run and print one table.")
@click.option("--beir", "beir_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Evaluate a BEIR dataset folder instead (nDCG@10, Recall@100 per mode).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-save", is_flag=True, help="Do not write the run to evals/results/.")
@click.pass_obj
def eval_(settings: Settings, gold: Path | None, mode: str, compare: bool, beir_dir: Path | None,
          as_json: bool, no_save: bool) -> None:
    """Measure retrieval on the gold set (or a BEIR dataset); runs are saved in evals/results/."""
    from tqdm import tqdm

    from .evals import report as reports

    modes = ("dense", "bm25", "hybrid") if compare or beir_dir else (mode,)
    progress = sys.stderr.isatty() and not as_json
    bar = (lambda items: tqdm(items, desc="Questions", unit="q", leave=False)) if progress else iter
    if beir_dir is not None:
        from .evals.beir import evaluate_beir

        result = evaluate_beir(beir_dir, settings, modes, progress=progress, wrap=bar)
        click.echo(json.dumps(result) if as_json else _format_beir(result))
        return
    from .evals.runner import load_gold, run_suite

    gold_path = gold or settings.root / "evals" / "gold.jsonl"
    result = run_suite(load_gold(gold_path), settings, modes, progress=bar)
    saved = None if no_save else reports.save(result, settings, settings.root / "evals" / "results",
                                              {"gold": settings.relative(gold_path)})
    if as_json:
        click.echo(json.dumps({"saved": saved and settings.relative(saved),
                               **{m: {k: v for k, v in r.items() if k != "questions"} for m, r in result.items()}}))
        return
    click.echo("\n\n".join(reports.table(result, split) for split in ("all", "tune", "heldout")))
    if saved:
        click.echo(f"\nsaved {settings.relative(saved)} and {settings.relative(saved.with_suffix('.png'))}")


def _format_beir(result: dict[str, Any]) -> str:
    lines = [f"{result['dataset']}: {result['documents']:,} documents, {result['queries']} queries",
             f"{'mode':<8}{'nDCG@10':>10}{'R@100':>10}"]
    for mode in ("dense", "bm25", "hybrid"):
        if mode in result:
            lines.append(f"{mode:<8}{result[mode]['ndcg@10']:>10.3f}{result[mode]['recall@100']:>10.3f}")
    return "\n".join(lines)


@cli.command(name="sources")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one article a line.")
@click.pass_obj
def list_sources(settings: Settings, as_json: bool) -> None:
    """List the archived articles."""
    from .sources import archive_paths, read_source

    for path in archive_paths(settings):
        try:
            s = read_source(path, settings)
        except SourceError as exc:
            click.echo(f"! {exc}", err=True)
            continue
        if as_json:
            fields = {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name not in ("text", "body_start")}
            click.echo(json.dumps(fields, ensure_ascii=False))
        else:
            meta = ", ".join(x for x in (s.publisher, s.published) if x)
            click.echo(f"{s.id}  {s.title}" + (f"  ({meta})" if meta else ""))


def _update(settings: Settings, rebuild: bool, quiet: bool) -> dict[str, Any]:
    from .index.update import update

    report = update(settings, rebuild=rebuild, progress=not quiet and sys.stderr.isatty())
    return dataclasses.asdict(report)


def _echo_add_result(r: dict[str, Any]) -> None:
    if r["status"] == "added":
        click.echo(f"added {r['path']}")
        for warning in r["warnings"]:
            click.echo(f"warning: {warning}", err=True)
    elif r["status"] == "skipped":
        click.echo(r["message"], err=True)
    else:
        click.echo(f"error: {r['message']}", err=True)


def _echo_update(report: dict[str, Any]) -> None:
    plan = report["plan"]
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if report["generation"] is None:
        click.echo(f"index is up to date: {report['sources']} articles, {report['passages']} passages")
        return
    click.echo(
        f"indexed {report['sources']} articles, {report['passages']} passages "
        f"({len(plan['new'])} new, {len(plan['changed'])} changed, {len(plan['deleted'])} removed; "
        f"{report['embedded']} passages embedded, {report['reused']} reused)"
    )


def _format_status(info: dict[str, Any]) -> str:
    model = info["model"]
    lines = [
        f"archive:  {info['archive_sources']} articles",
        f"index:    {info['indexed_sources']} articles, {info['passages']} passages"
        + (f", model {model['name']} ({model['dim']} dims, {model.get('backend', 'torch')}), built {info['built']}"
           if model else " (not built)"),
    ]
    stale = info["stale"]
    for kind in ("new", "changed", "deleted"):
        if stale[kind]:
            lines.append(f"{kind + ':':9} " + ", ".join(stale[kind]))
    lines.append("up to date" if info["up_to_date"] else "stale: run `assistant index`")
    return "\n".join(lines)


def main() -> None:
    """Entry point of the ``assistant`` script."""
    cli(prog_name="assistant")

"""``drux hub``: import articles, list them, show one, and put an article's FAQ to the panel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from drux.cli import app, flags

if TYPE_CHECKING:
    from drux.hub import HubService

hub_app = typer.Typer(help="The Hub: news articles and what the AIs think of them.",
                      no_args_is_help=True)
app.add_typer(hub_app, name="hub")


def _hub() -> HubService:
    from drux.hub import HubService
    from drux.services import Services

    return HubService(Services.from_settings())


def _split(models: str | None) -> list[str] | None:
    if models is None:
        return None
    ids = [m for m in (p.strip() for p in models.split(",")) if m]
    if not ids:
        from drux.errors import InputError

        raise InputError("--models needs at least one model name")
    return ids


@hub_app.command("import")
def import_(
    # A str, not a Path: typer turns "" (an unset shell variable) into ".", the whole folder.
    path: Annotated[str, typer.Argument(help="A Markdown file, an RSS/Atom file, or a folder.")],
) -> None:
    """Import articles; every file is checked first, so a bad one imports nothing."""
    if not path.strip():
        from drux.errors import InputError

        raise InputError("the path is empty; name a file or a folder")
    slugs = _hub().import_path(Path(path))
    typer.echo(f"imported {len(slugs)} article{'s' * (len(slugs) != 1)}: {', '.join(slugs)}")


@hub_app.command("list")
def list_(
    query: Annotated[str | None, typer.Option("--query", "-q", help="Words to search for.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="Only articles with this tag.")] = None,
    page: Annotated[int, typer.Option(help="Page number, from 1.")] = 1,
    per_page: Annotated[int, typer.Option("--per-page", help="Articles per page.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List articles, newest first (an empty Hub is filled with the shipped samples)."""
    hub = _hub()
    hub.ensure_loaded()
    items, total = hub.list_articles(query, tag, page, per_page)
    if as_json:
        data = {"total": total, "page": page, "per_page": per_page,
                "articles": [_brief(v.to_dict()) for v in items]}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    import sys

    from rich.console import Console

    from drux.cli.render import plain
    from drux.cli.tables import Cell, Col, print_records

    cols = [Col("id"), Col("date", drop=2), Col("title", "text", drop=4),
            Col("tags", "words", drop=1), Col("faq", drop=3, justify="right")]
    cells: list[list[Cell]] = []
    for v in items:
        date = v.published.date().isoformat() if v.published else ""
        cells.append([plain(v.id), date, plain(v.title), plain(", ".join(v.tags)),
                      str(len(v.faq))])
    print_records(cols, cells, box=None, pad_edge=False)
    if sys.stdout.isatty():  # a pipe gets the records alone; --json says the total
        shown = (f"{(page - 1) * per_page + 1}-{(page - 1) * per_page + len(items)}"
                 if items else "none")
        Console().print(f"[dim]{shown} of {total}[/]")


def _brief(d: dict[str, Any]) -> dict[str, Any]:
    d.pop("body_html", None)
    return d


@hub_app.command("show")
def show(article: Annotated[str, typer.Argument(help="The article id (see drux hub list).")]) -> None:
    """An article's details and its FAQ with the panel's latest answers."""
    hub = _hub()
    hub.ensure_loaded()
    record = hub.require(article)
    from drux.cli.render import clean

    typer.echo(clean(record.title))
    if record.source_url:
        typer.echo(f"via {clean(record.source_url)}")
    if record.published:
        typer.echo(f"published {record.published.date().isoformat()}")
    for r in hub.faq_results(article):
        _print_result(r)


def _print_result(r: dict[str, Any]) -> None:
    from drux.cli.render import clean

    r = clean(r)
    if r.get("ask_id") is None:
        typer.echo(f"- {r['question']}\n    not asked yet")
        return
    score = "n/a" if r.get("score") is None else f"{r['score']:.0f}"
    flag = f"  DISAGREEMENT: {r['disagreement_reason']}" if r.get("disagreement_reason") else ""
    typer.echo(f"- {r['question']}\n    score {score}, {r.get('verdict') or r.get('status')}{flag}"
               f"  (ask {r['ask_id']})")


@hub_app.command("faq")
def faq(
    article: Annotated[str, typer.Argument(help="The article id (see drux hub list).")],
    models: Annotated[str | None, typer.Option("--models", "-m",
                                               help="Comma-separated model ids.")] = None,
    panel: Annotated[str | None, typer.Option("--panel", "-p", help="A named panel.")] = None,
    question: Annotated[list[str] | None, typer.Option(
        "--question", help="Ask only this FAQ question (repeatable).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds each model may take.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Answer length cap.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ask the panel each FAQ question of an article, with the article as context."""
    hub = _hub()
    hub.ensure_loaded()
    model_ids = _split(models)
    with flags({"max_tokens": "--max-tokens", "timeout": "--timeout", "models": "--models",
                "panel": "--panel"}):
        results = asyncio.run(_run_faq(hub, article, model_ids, panel, question, timeout,
                                       max_tokens, as_json))
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
    from drux.records import AskStatus

    if not any(r["status"] == AskStatus.COMPLETE for r in results):
        typer.echo("error: no model produced an answer", err=True)
        raise typer.Exit(1)


async def _run_faq(hub: HubService, article: str, models: list[str] | None, panel: str | None,
                   questions: list[str] | None, model_timeout: float | None,
                   max_tokens: int | None, quiet: bool) -> list[dict[str, Any]]:
    from drux.cli.faq_progress import FaqProgress

    # Progress goes to stderr: stdout keeps one result per question (or the JSON).
    progress = FaqProgress(plain_lines=not quiet)
    try:
        return await hub.faq(article, models, panel, questions=questions or None,
                             max_tokens=max_tokens, model_timeout=model_timeout,
                             on_result=None if quiet else _print_result, on_step=progress)
    finally:
        progress.close()
        await hub.services.aclose()

"""``drux models``, ``drux history``, ``drux show``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from drux.cli import app, fail

models_app = typer.Typer(help="List models and prepare local weights.", no_args_is_help=False,
                         invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """Every configured model: provider, family, price, and whether it is usable now."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.text import Text

    from drux.cli.render import plain
    from drux.cli.tables import Cell, Col, print_records
    from drux.services import Services

    rows = Services.from_settings().model_rows()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    cols = [Col("model"), Col("provider", drop=4), Col("family", drop=1),
            Col("$/M in·out", drop=3), Col("ready", "text", drop=5),
            Col("panels", "words", drop=2)]
    cells: list[list[Cell]] = []
    for r in rows:
        ready = (Text.assemble(("yes", "green"), f" ({r.reason})") if r.usable
                 else Text.assemble(("no", "red"), f": {r.reason}"))
        cells.append([plain(r.id), plain(r.vendor), plain(r.family),
                      f"{r.input_price:g} · {r.output_price:g}", ready, plain(", ".join(r.panels))])
    print_records(cols, cells, title="drux models")


@models_app.command("assemble")
def assemble(
    names: Annotated[list[str] | None, typer.Argument(help="Models or panels (default: default).")] = None,
) -> None:
    """Join local weight chunks into the cache and verify their sha256."""
    from drux.config import load_config
    from drux.weights import assemble as do_assemble

    config = load_config()
    ids: list[str] = []
    for name in names or ["default"]:
        ids.extend(config.catalog.panels.get(name, (name,)))
    for model_id in dict.fromkeys(ids):
        spec = config.catalog.model(model_id)
        if spec.weights is None:
            raise fail(f"{model_id} is not a local model")
        path = do_assemble(spec.weights, config.settings.models_dir)
        typer.echo(f"{model_id}: verified {path}")


@app.command()
def history(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many asks.")] = 20,
    article: Annotated[str | None, typer.Option(help="Only asks about this article.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Past asks, newest first."""
    from drux.services import Services

    rows = Services.from_settings().store.asks.list(limit=limit, article_id=article)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    from drux.cli.render import plain
    from drux.cli.tables import Cell, Col, print_records

    cols = [Col("id"), Col("when", "words", drop=3), Col("score", drop=4, justify="right"),
            Col("verdict", "words", drop=1), Col("status", drop=2),
            Col("question", "text", drop=5)]
    # A terminal gets a thread column when a listed ask is in a thread ("2 of <thread id
    # prefix>", which `drux thread` and `drux ask --cid` take);
    # a pipe keeps its six fields (scripts count on them): --json carries the thread.
    threaded = any(r.thread for r in rows)
    if threaded:
        cols.insert(5, Col("thread", "words", drop=4))
    cells: list[list[Cell]] = []
    whole: list[list[str]] = []
    for r in rows:
        score = "n/a" if r.score is None else f"{r.score:.0f}"
        row = [r.id, r.created_at[:19].replace("T", " "), score, r.verdict or "", str(r.status)]
        turn = [plain(f"{r.thread.turn} of {r.thread.id[:8]}" if r.thread else "")] if threaded else []
        cells.append([*(plain(v) for v in row), *turn, plain(r.question[:80])])
        whole.append([*row, r.question])  # a pipe gets the whole question
    print_records(cols, cells, title="drux history", plain_rows=whole)


@app.command()
def show(
    ask_id: Annotated[str, typer.Argument(help="An ask id (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One past ask: every answer or failure, timings, and the score breakdown."""
    from rich.console import Console

    from drux.cli.render import record_view
    from drux.services import Services

    record = Services.from_settings().store.asks.find(ask_id)
    if record is None:
        shown = ask_id if len(ask_id) <= 64 else ask_id[:64] + "…"
        raise fail(f"no ask with id {shown!r}; see `drux history`")
    if as_json:
        typer.echo(record.to_json())
        return
    console = Console()
    if record.thread:  # before the view: `drux thread` lists the other turns
        console.print(f"turn {record.thread.turn} of thread {record.thread.id}", markup=False)
    console.print(record_view(record))

"""``drux status``: breaker state, error rate, latency and last error per deployment;
``drux status --cluster``: the processes, jobs and engines of the cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from drux.cli import app


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _when(entry: dict[str, Any]) -> str:
    at = entry.get("last_error_at")
    if not at:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
           cluster: Annotated[bool, typer.Option(
               "--cluster", help="Show the cluster instead: processes alive, jobs queued and "
                                 "running, Redis and database reachability.")] = False) -> None:
    """Health of every deployment drux has routed to (latest snapshot per deployment)."""
    from rich.text import Text

    from drux.cli.render import plain
    from drux.cli.tables import Cell, Col, print_records
    from drux.services import Services
    from drux.services.status import deployment_status

    if cluster:
        from drux.cli.cluster_view import show_cluster

        show_cluster(Services.from_settings(), as_json=as_json)
        return
    rows = deployment_status(Services.from_settings())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("No deployment has been used yet: run `drux ask` or `drux serve` first.")
        return
    # The tail latencies go first when the width runs out, then when the figures are from.
    cols = [Col("deployment"), Col("breaker", drop=8), Col("errors", drop=7, justify="right"),
            Col("p50", drop=5, justify="right"), Col("p95", drop=2, justify="right"),
            Col("ttft50", drop=3, justify="right"), Col("ttft95", drop=1, justify="right"),
            Col("last error", "words", drop=6), Col("as of", "words", drop=4)]
    cells: list[list[Cell]] = []
    for r in rows:
        err = r.get("last_error") or {}
        rate = r.get("error_rate")
        state = r.get("state", "closed")
        style = {"open": "red", "half_open": "yellow"}.get(state, "green")
        cells.append([
            plain(r["deployment"]), Text(state, style=style), "-" if rate is None else f"{rate:.0%}",
            _secs(r.get("latency_p50_s")), _secs(r.get("latency_p95_s")),
            _secs(r.get("ttft_p50_s")), _secs(r.get("ttft_p95_s")),
            plain(f"{err.get('type', '')} {_when(r)}".strip()),
            "live" if r.get("source") == "live" else plain(f"{r.get('source')} {_as_of(r)}"),
        ])
    print_records(cols, cells, title="drux status")


def _as_of(entry: dict[str, Any]) -> str:
    """When a stored snapshot was taken, as ``12-06 19:25`` (month, day, time)."""
    return str(entry.get("as_of"))[5:16].replace("T", " ")

"""``drux status --cluster``: who is alive, what is queued, and whether the engines answer."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from drux.services import Services
    from drux.services.status import ClusterStatus
    from drux.state.cluster import Reachability


def _engine(name: str, engine: Reachability) -> str:
    if engine.reachable:
        return f"{name}: reachable in {engine.latency_ms:.1f} ms ({engine.target})"
    return f"{name}: UNREACHABLE ({engine.target}): {engine.error}"


def _probe(services: Services) -> ClusterStatus:
    from drux.services.status import cluster_status
    from drux.state.connection import aclose_clients

    async def probe() -> ClusterStatus:
        try:
            return await cluster_status(services)
        finally:
            await aclose_clients()

    return asyncio.run(probe())


def show_cluster(services: Services, *, as_json: bool) -> None:
    from drux.cli.render import plain
    from drux.cli.tables import Cell, Col, print_records

    view = _probe(services)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    typer.echo(f"cluster: {view.summary}")
    typer.echo(_engine("database", view.database))
    if view.redis is not None:
        typer.echo(_engine("redis", view.redis))
    if view.jobs is not None:
        typer.echo(f"jobs on queue {view.jobs.queue}: {view.jobs.queued} queued, "
                   f"{view.jobs.running} running")
    if not view.processes:
        return
    cols = [Col("kind"), Col("host", "words"), Col("pid", justify="right"),
            Col("version", drop=2), Col("started", drop=1), Col("last beat", drop=3)]
    cells: list[list[Cell]] = [
        [f"{p.kind}" + (f" x{p.concurrency}" if p.concurrency else ""), plain(p.host), str(p.pid),
         plain(p.version), p.started_at.strftime("%m-%d %H:%M:%S"),
         p.beat_at.strftime("%H:%M:%S")]
        for p in view.processes]
    print_records(cols, cells, title="processes alive")

"""``drux worker``: runs asks queued as jobs on Redis (``DRUX_REDIS_URL``) by any web worker,
``drux hub faq`` or the Hub FAQ refresh."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from drux.cli import app, fail

if TYPE_CHECKING:
    from drux.config import Settings
    from drux.services import Services


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, max=256,
        help="Asks this worker runs at once (each asks its whole panel in parallel).")] = 4,
) -> None:
    """Run queued asks (needs DRUX_REDIS_URL); Ctrl-C lets running asks end for a few seconds,
    then saves them partial."""
    import logging

    from drux.config import Settings

    settings = Settings()
    if not settings.redis_url:
        raise fail("drux worker needs DRUX_REDIS_URL: jobs are queued on Redis", 2)
    from drux.services import Services
    from drux.state.connection import describe

    services = Services.from_settings()
    services.store  # noqa: B018 - open and migrate now: a bad database is one line, not a traceback
    # SAQ says which job it runs, sweeps or aborts: an operator's first clue.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("saq").setLevel(logging.INFO)
    typer.echo(f"drux worker: {concurrency} at once, jobs from {describe(settings.redis_url)} "
               "(Ctrl-C to stop)")
    asyncio.run(_run(services, settings, concurrency))


async def _run(services: Services, settings: Settings, concurrency: int) -> None:
    """Run jobs, registered for `drux status --cluster` (a heartbeat) while it runs."""
    from drux.state.cluster import heartbeat
    from drux.state.jobs import run_worker

    assert settings.redis_url is not None
    async with heartbeat(settings, kind="worker", concurrency=concurrency):
        await run_worker(services, settings.redis_url, concurrency=concurrency)

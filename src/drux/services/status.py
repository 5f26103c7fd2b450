"""Deployment health for `drux status`, the web status page and the API.

Breakers live in the memory of the process that routes (the server, or one CLI
ask). Each process saves its registry's snapshot to the store after its work,
so a status query from another process shows the latest snapshot per
deployment, labelled with where and when it was taken; live entries of the
current process win over stored ones.

With ``DRUX_REDIS_URL`` the breaker state (open, half-open, closed, time left)
is the cluster's, read from Redis, whatever process asks; error rates and
latencies stay those of the process that took the snapshot (``stats_scope``).

``cluster_status`` adds the cluster: processes alive by kind (their heartbeats, see
``drux.state.cluster``), jobs queued and running, and whether Redis and the database answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import make_url, text

from drux.errors import SharedStateError, StoreError
from drux.services import Services
from drux.state.cluster import (
    SINGLE_PROCESS,
    JobCounts,
    ProcessBeat,
    Reachability,
    RedisRegistry,
    Registry,
    job_counts,
    redis_reachability,
)
from drux.store._session import reading


def save_health(services: Services, *, source: str) -> None:
    try:
        services.store.health.save(services.health.snapshot(), source=source)
    except StoreError:
        pass  # health snapshots are best effort; never fail an ask over them


def deployment_status(services: Services) -> list[dict[str, Any]]:
    live: dict[str, dict[str, Any]] = {}
    for entry in services.health.snapshot():
        live[entry["deployment"]] = dict(entry, source="live", as_of=None)
    stored = {e["deployment"]: e for e in services.store.health.load()}
    merged = {**stored, **live}
    if services.settings.redis_url:
        _with_cluster_breakers(merged, services.settings.redis_url)
    return [merged[name] for name in sorted(merged)]


def _with_cluster_breakers(rows: dict[str, dict[str, Any]], url: str) -> None:
    """Every deployment's breaker as the cluster has it; a deployment only another worker
    has routed to gets a row of its own. Redis away: the rows stay as they are."""
    from drux.state.breakers.redis import read_verdicts  # redis-py only when configured

    cluster = read_verdicts(url)
    if cluster is None:
        return
    now = datetime.now(UTC).isoformat()
    for name, shared in cluster.items():
        row = rows.get(name)
        if row is None:
            row = rows[name] = {"deployment": name, "source": "cluster", "as_of": now}
        row.update(state=shared["state"], open_for_s=shared["open_for_s"],
                   breaker_scope="cluster")


# -- the cluster: processes alive, jobs, and whether the engines answer ---------------------

class ClusterStatus(BaseModel):
    """What `drux status --cluster`, /api/status and the status page show of the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["single", "cluster"]
    summary: str
    alive: dict[str, int]  # processes alive by kind (web, gateway, worker), from heartbeats
    processes: list[ProcessBeat]
    jobs: JobCounts | None  # None: single process, or Redis did not answer
    redis: Reachability | None  # None: no DRUX_REDIS_URL
    database: Reachability


def database_reachability(services: Services) -> Reachability:
    """``SELECT 1`` on the store, timed (blocking: run it in a thread)."""
    target = make_url(services.settings.db_url).render_as_string(hide_password=True)
    try:
        sessions = services.store.sessions  # opened (and migrated) once, not timed
        with reading(sessions, "the database did not answer") as session:
            session.execute(text("SELECT 1"))  # takes a pooled connection (or opens one)
            started = time.perf_counter()
            session.execute(text("SELECT 1"))
    except StoreError as exc:
        return Reachability(target=target, reachable=False, error=str(exc))
    return Reachability(target=target, reachable=True,
                        latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def cluster_status(services: Services, registry: Registry | None = None) -> ClusterStatus:
    database = await asyncio.to_thread(database_reachability, services)
    url = services.settings.redis_url
    if not url:
        return ClusterStatus(mode="single", summary=SINGLE_PROCESS, alive={}, processes=[],
                             jobs=None, redis=None, database=database)
    redis = await redis_reachability(url)
    processes: list[ProcessBeat] = []
    jobs = None
    if redis.reachable:
        with contextlib.suppress(SharedStateError):  # gone since the ping: shown as is
            processes = await (registry or RedisRegistry(url)).alive()
            jobs = await job_counts(url)
    alive: dict[str, int] = dict(Counter(str(p.kind) for p in processes))
    return ClusterStatus(mode="cluster", summary=_summary(alive, redis, jobs), alive=alive,
                         processes=processes, jobs=jobs, redis=redis, database=database)


def _summary(alive: dict[str, int], redis: Reachability, jobs: JobCounts | None) -> str:
    if not redis.reachable:
        return "Redis is unreachable: processes and jobs are unknown"
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(alive.items())) or "no process"
    queue = f"; {jobs.queued} job(s) queued, {jobs.running} running" if jobs else ""
    return f"{kinds} alive{queue}"

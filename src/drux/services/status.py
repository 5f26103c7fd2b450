"""Deployment health for `drux status`, the web status page and the API.

Breakers live in the memory of the process that routes (the server, or one CLI
ask). Each process saves its registry's snapshot to the store after its work,
so a status query from another process shows the latest snapshot per
deployment, labelled with where and when it was taken; live entries of the
current process win over stored ones.

With ``DRUX_REDIS_URL`` the breaker state (open, half-open, closed, time left)
is the cluster's, read from Redis, whatever process asks; error rates and
latencies stay those of the process that took the snapshot (``stats_scope``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drux.errors import StoreError
from drux.services import Services


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

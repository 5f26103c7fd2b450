"""Deployment health for `drux status`, the web status page and the API.

Breakers live in the memory of the process that routes (the server, or one CLI
ask). Each process saves its registry's snapshot to the store after its work,
so a status query from another process shows the latest snapshot per
deployment, labelled with where and when it was taken; live entries of the
current process win over stored ones.
"""

from __future__ import annotations

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
    return [merged[name] for name in sorted(merged)]

"""Health snapshots: what a process last saw of each deployment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from drux.store._session import reading, writing
from drux.store.models import DeploymentHealthRow, utcnow


class HealthRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, snapshot: list[dict[str, Any]], *, source: str) -> None:
        if not snapshot:
            return
        with writing(self._sessions, "cannot write health snapshot") as session:
            for data in snapshot:
                name = str(data["deployment"])
                row = session.get(DeploymentHealthRow, name)
                if row is None:
                    row = DeploymentHealthRow(deployment=name)
                    session.add(row)
                row.data, row.source, row.updated_at = data, source, utcnow()

    def load(self) -> list[dict[str, Any]]:
        with reading(self._sessions, "cannot read health snapshots") as session:
            rows = session.scalars(
                select(DeploymentHealthRow).order_by(DeploymentHealthRow.deployment)).all()
        return [dict(r.data, source=r.source, as_of=r.updated_at.isoformat()) for r in rows]

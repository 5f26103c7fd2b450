"""Health snapshots: what a process last saw of each deployment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from drux.errors import StoreError
from drux.store.models import DeploymentHealthRow, utcnow


class HealthRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, snapshot: list[dict[str, Any]], *, source: str) -> None:
        if not snapshot:
            return
        try:
            with self._sessions.begin() as session:
                for data in snapshot:
                    name = str(data["deployment"])
                    row = session.get(DeploymentHealthRow, name)
                    if row is None:
                        row = DeploymentHealthRow(deployment=name)
                        session.add(row)
                    row.data, row.source, row.updated_at = data, source, utcnow()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write health snapshot: {exc.__class__.__name__}") from None

    def load(self) -> list[dict[str, Any]]:
        try:
            with self._sessions() as session:
                rows = session.scalars(
                    select(DeploymentHealthRow).order_by(DeploymentHealthRow.deployment)).all()
        except (SQLAlchemyError, ValueError, TypeError) as exc:  # damaged rows too
            raise StoreError(f"cannot read health snapshots: {exc.__class__.__name__}") from None
        return [dict(r.data, source=r.source, as_of=r.updated_at.isoformat()) for r in rows]

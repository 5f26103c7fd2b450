"""Gateway API keys and the usage recorded against them.

A key is ``drux-`` followed by 32 random bytes (``secrets.token_urlsafe``), so
it has 256 bits of entropy. Only its SHA-256 hex digest is stored: with a key
that random, a plain fast hash is enough (nobody can brute-force 2^256 guesses;
slow password hashes exist for low-entropy human passwords). The secret is
shown once, by ``create``; afterwards a key is named by its id or by its
prefix (the first 12 characters), which carries no useful part of the secret.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from drux.errors import InputError
from drux.store._session import reading, writing
from drux.store.models import GatewayKey, UsageRecord, utcnow

_USAGE_TABLE = cast(Table, UsageRecord.__table__)

KEY_PREFIX = "drux-"
PREFIX_LENGTH = 12


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


MAX_NAME = 200  # GatewayKey.name is String(200)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: never the secret, never its hash."""

    id: int
    name: str
    prefix: str
    created_at: datetime | None
    revoked_at: datetime | None
    allowed_models: tuple[str, ...]
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    spent_usd: float

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "prefix": self.prefix,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.active, "allowed_models": list(self.allowed_models),
            "rpm": self.rpm, "tpm": self.tpm, "budget_usd": self.budget_usd,
            "spent_usd": round(self.spent_usd, 6),
        }


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """An active key as the gateway caches it, looked up by ``key_hash``."""

    key_hash: str
    info: KeyInfo


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One gateway call to record (built on the hot path, written in batches)."""

    key_id: int | None
    model: str
    deployment: str | None
    status: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float | None
    created_at: datetime


def _info(row: GatewayKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.created_at, row.revoked_at,
                   tuple(row.allowed_models or ()), row.rpm, row.tpm, row.budget_usd,
                   row.spent_usd or 0.0)


def _check_limits(rpm: int | None, tpm: int | None, budget: float | None) -> None:
    for label, value in (("--rpm", rpm), ("--tpm", tpm)):
        if value is not None and not 1 <= value <= _MAX_LIMIT:  # a database integer holds it
            raise InputError(f"{label} must be between 1 and {_MAX_LIMIT}")
    if budget is not None and not 0 < budget < math.inf:  # inf would be invalid JSON
        raise InputError("--budget must be a positive amount of USD")


_MAX_LIMIT = 2**31 - 1


class KeyRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, name: str, *, models: Sequence[str] = (), rpm: int | None = None,
               tpm: int | None = None, budget_usd: float | None = None) -> tuple[KeyInfo, str]:
        """A new key and its secret; the secret is not kept anywhere."""
        name = name.strip()
        if not name:
            raise InputError("a key needs a name")
        if len(name) > MAX_NAME or not name.isprintable():
            raise InputError(f"a key name is printable text of at most {MAX_NAME} characters")
        _check_limits(rpm, tpm, budget_usd)
        secret = new_secret()
        row = GatewayKey(name=name, prefix=secret[:PREFIX_LENGTH], key_hash=hash_key(secret),
                         allowed_models=list(dict.fromkeys(m for m in models if m)),
                         rpm=rpm, tpm=tpm, budget_usd=budget_usd, spent_usd=0.0,
                         created_at=utcnow())
        with writing(self._sessions, "cannot save the key") as session:
            session.add(row)
            session.flush()
            info = _info(row)
        return info, secret

    def all(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        stmt = select(GatewayKey).order_by(GatewayKey.id)
        if not include_revoked:
            stmt = stmt.where(GatewayKey.revoked_at.is_(None))
        with reading(self._sessions, "cannot read keys") as session:
            return [_info(r) for r in session.scalars(stmt)]

    def active(self) -> list[ActiveKey]:
        """Every key that is not revoked, with its hash, for the gateway's lookup table."""
        stmt = select(GatewayKey).where(GatewayKey.revoked_at.is_(None))
        with reading(self._sessions, "cannot read keys") as session:
            return [ActiveKey(r.key_hash, _info(r)) for r in session.scalars(stmt)]

    def exists(self) -> bool:
        """Whether any key was ever created (revoked ones count: access stays closed)."""
        with reading(self._sessions, "cannot read keys") as session:
            return session.scalar(select(GatewayKey.id).limit(1)) is not None

    def revoke(self, id_or_prefix: str) -> KeyInfo:
        """Revoke one key named by its id, its prefix (at least 8 characters) or its secret."""
        ref = id_or_prefix.strip()
        conditions = []
        if ref.isdigit():
            conditions.append(GatewayKey.id == int(ref))
        if len(ref) > PREFIX_LENGTH:  # longer than a prefix: the secret itself (a leaked key)
            conditions.append(GatewayKey.key_hash == hash_key(ref))
            ref = ref[:PREFIX_LENGTH] + "…"  # never echoed back
        elif len(ref) >= 8:
            conditions.append(GatewayKey.prefix.startswith(ref, autoescape=True))
        if not conditions:
            raise InputError("name a key by its id or by at least 8 characters of its prefix")
        with writing(self._sessions, "cannot revoke the key") as session:
            rows = list(session.scalars(select(GatewayKey).where(or_(*conditions))))
            if not rows:
                raise InputError(f"no key matches {ref!r}; see drux keys list")
            if len(rows) > 1:
                ids = ", ".join(str(r.id) for r in rows)
                raise InputError(f"{ref!r} matches several keys ({ids}); use the id")
            row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _info(row)

    def record_usage(self, rows: Iterable[UsageRow]) -> None:
        """Insert usage rows and add their cost to each key's spend, in one transaction."""
        batch = list(rows)
        if not batch:
            return
        spent: dict[int, float] = {}
        for r in batch:
            if r.key_id is not None and r.cost_usd:
                spent[r.key_id] = spent.get(r.key_id, 0.0) + r.cost_usd
        with writing(self._sessions, "cannot record usage") as session:
            # Core executemany on the table, not the ORM's bulk insert (a quarter cheaper per
            # row, and a busy gateway writes a row per call): the same statement and values.
            session.connection().execute(insert(_USAGE_TABLE), [{
                "created_at": r.created_at, "key_id": r.key_id, "model": r.model,
                "deployment": r.deployment, "status": r.status,
                "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                "cost_usd": r.cost_usd, "latency_ms": r.latency_ms} for r in batch])
            for key_id, amount in spent.items():
                session.execute(update(GatewayKey).where(GatewayKey.id == key_id)
                                .values(spent_usd=GatewayKey.spent_usd + amount))

    def usage(self, *, key_id: int | None = None) -> list[dict[str, Any]]:
        """Totals per key and model: requests, tokens, cost."""
        from sqlalchemy import func

        stmt = (select(UsageRecord.key_id, UsageRecord.model, func.count(),
                       func.sum(UsageRecord.input_tokens), func.sum(UsageRecord.output_tokens),
                       func.sum(UsageRecord.cost_usd))
                .group_by(UsageRecord.key_id, UsageRecord.model)
                .order_by(UsageRecord.key_id, UsageRecord.model))
        if key_id is not None:
            stmt = stmt.where(UsageRecord.key_id == key_id)
        with reading(self._sessions, "cannot read usage") as session:
            return [{"key_id": k, "model": m, "requests": n, "input_tokens": i or 0,
                     "output_tokens": o or 0, "cost_usd": round(c or 0.0, 6)}
                    for k, m, n, i, o, c in session.execute(stmt)]

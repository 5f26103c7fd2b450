"""Web accounts: users with argon2id password hashes, and server-side sign-in sessions.

A session's cookie carries 32 random bytes; only their SHA-256 is stored (like gateway
keys: a value that random needs no slow hash). A password is human-chosen, so it gets
argon2id. Signing in with an unknown name still spends one argon2 verification, so the
answer's timing does not tell which names exist.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from drux.errors import InputError
from drux.store._session import reading, writing
from drux.store.models import User, WebSession, utcnow
from drux.validation import field_error


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Password = Annotated[str, Field(min_length=8, max_length=1024)]


class UserLimits(BaseModel):
    """Per-user limits on web asks (None: none). Checked here for every shell."""

    model_config = ConfigDict(extra="forbid")

    asks_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    daily_budget_usd: float | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)


class NewUser(BaseModel):
    """What ``drux users create`` takes: checked here so every shell refuses the same way."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    role: Role = Role.MEMBER


def _name(username: str) -> str:
    try:
        return NewUser(username=username, password="x" * 8).username
    except ValidationError as exc:
        raise _user_error(exc) from None


def _user_error(exc: ValidationError) -> InputError:
    err = field_error(exc, NewUser)
    if err.field == "username" and exc.errors()[0]["type"] == "string_pattern_mismatch":
        return InputError("the username takes letters, digits, '.', '_' and '-' "
                          "(starting with a letter or digit), at most 64")
    return err


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What may be shown about an account: never its password hash."""

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime | None
    asks_per_minute: int | None = None
    daily_budget_usd: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, and the token its forms and JSON calls must send back."""

    user: UserInfo
    csrf_token: str


def _info(row: User) -> UserInfo:
    created = _aware(row.created_at) if row.created_at else None
    return UserInfo(row.id, row.username, Role(row.role), row.disabled, created,
                    row.asks_per_minute, row.daily_budget_usd)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


SESSION_LIFETIME = timedelta(days=14)
# Written at most this often: every page view would otherwise be a write.
_SEEN_EVERY = timedelta(minutes=5)


class UserRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._hasher = PasswordHasher()  # argon2id, the library's recommended parameters
        self._dummy: str | None = None  # made on first use: opening the store stays cheap

    def create(self, username: str, password: str, role: Role | str = Role.MEMBER) -> UserInfo:
        try:
            new = NewUser.model_validate({"username": username, "password": password,
                                          "role": role})
        except ValidationError as exc:
            raise _user_error(exc) from None
        row = User(username=new.username, password_hash=self._hasher.hash(new.password),
                   role=new.role, disabled=False, created_at=utcnow())
        try:
            with writing(self._sessions, "cannot save the user") as session:
                if session.scalar(select(User.id).where(User.username == new.username)):
                    raise InputError(f"a user named {new.username!r} already exists")
                session.add(row)
                session.flush()
                return _info(row)
        except IntegrityError:  # created by another process in between
            raise InputError(f"a user named {new.username!r} already exists") from None

    def all(self) -> list[UserInfo]:
        with reading(self._sessions, "cannot read users") as session:
            return [_info(r) for r in session.scalars(select(User).order_by(User.id))]

    def exists(self) -> bool:
        """Whether any account was ever created: from then on the web app asks for a login."""
        with reading(self._sessions, "cannot read users") as session:
            return session.scalar(select(User.id).limit(1)) is not None

    def get(self, username: str) -> UserInfo | None:
        with reading(self._sessions, "cannot read users") as session:
            row = session.scalar(select(User).where(User.username == username))
            return _info(row) if row else None

    def by_id(self, user_id: int) -> UserInfo | None:
        with reading(self._sessions, "cannot read users") as session:
            row = session.get(User, user_id)
            return _info(row) if row else None

    def _change(self, username: str, **values: object) -> UserInfo:
        name = _name(username)
        with writing(self._sessions, "cannot change the user") as session:
            row = session.scalar(select(User).where(User.username == name))
            if row is None:
                raise InputError(f"no user named {name!r}; see drux users list")
            for key, value in values.items():
                setattr(row, key, value)
            if values.get("disabled"):  # signed out everywhere at once
                session.execute(delete(WebSession).where(WebSession.user_id == row.id))
            return _info(row)

    def disable(self, username: str) -> UserInfo:
        return self._change(username, disabled=True)

    def set_role(self, username: str, role: str) -> UserInfo:
        if role not in {r.value for r in Role}:
            raise InputError(f"the role is admin or member, not {role!r}")
        return self._change(username, role=Role(role))

    def set_limits(self, username: str, limits: UserLimits) -> UserInfo:
        """Replace the account's limits (a field left None removes that limit)."""
        return self._change(username, asks_per_minute=limits.asks_per_minute,
                            daily_budget_usd=limits.daily_budget_usd)

    def verify(self, username: str, password: str) -> UserInfo | None:
        """The account these credentials sign in, or None (unknown, wrong or disabled)."""
        with reading(self._sessions, "cannot read users") as session:
            row = session.scalar(select(User).where(User.username == username[:64]))
            if row is None and self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            stored = row.password_hash if row is not None else self._dummy
            try:
                self._hasher.verify(stored or "", password[:1024])
            except (VerificationError, InvalidHashError):
                return None
            if row is None or row.disabled:
                return None
            return _info(row)

    def start_session(self, user: UserInfo) -> tuple[str, SignedIn]:
        """A new session for ``user``: the cookie value (kept nowhere) and what it signs in."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        with writing(self._sessions, "cannot start the session") as session:
            session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(WebSession(id_hash=hash_session_id(session_id), user_id=user.id,
                                   csrf_token=csrf, created_at=now, last_seen=now,
                                   expires_at=now + SESSION_LIFETIME))
        return session_id, SignedIn(user, csrf)

    def session(self, session_id: str) -> SignedIn | None:
        """Who a cookie signs in, if its session is live and its account enabled."""
        if not session_id or len(session_id) > 100:
            return None
        now = utcnow()
        with writing(self._sessions, "cannot read the session") as session:
            found = session.execute(
                select(WebSession, User).join(User, User.id == WebSession.user_id)
                .where(WebSession.id_hash == hash_session_id(session_id))).first()
            if found is None:
                return None
            web, user = found
            if _aware(web.expires_at) <= now or user.disabled:
                session.delete(web)
                return None
            if now - _aware(web.last_seen) > _SEEN_EVERY:
                web.last_seen = now
            return SignedIn(_info(user), web.csrf_token)

    def end_session(self, session_id: str) -> None:
        with writing(self._sessions, "cannot end the session") as session:
            session.execute(delete(WebSession).where(
                WebSession.id_hash == hash_session_id(session_id)))


def _aware(value: datetime) -> datetime:
    # SQLite gives naive UTC datetimes back.
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)

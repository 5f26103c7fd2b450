"""Web sign-in sessions: in the database (the default), or in Redis with ``DRUX_REDIS_URL``.

Either way the cookie carries 32 random bytes and only their SHA-256 is stored, a session
lasts ``SESSION_LIFETIME`` from sign-in, and every request reads the account afresh from the
database, so a disabled account or a changed role counts at once. In Redis a session is one
key that expires by itself; if Redis cannot be reached, reading or starting a session is a
``SharedStateError`` (a 503 naming Redis), never a silent sign-out.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Protocol

from drux.state.connection import guarded, redis_client
from drux.store.users import (
    SESSION_LIFETIME,
    SignedIn,
    UserInfo,
    UserRepository,
    hash_session_id,
)

_MAX_COOKIE = 100


class WebSessions(Protocol):
    async def start(self, user: UserInfo) -> tuple[str, SignedIn]:
        """A new session: the cookie value (kept nowhere) and what it signs in."""
        ...

    async def get(self, session_id: str) -> SignedIn | None:
        """Who a cookie signs in, if its session is live and its account enabled."""
        ...

    async def end(self, session_id: str) -> None: ...


class DatabaseSessions:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def start(self, user: UserInfo) -> tuple[str, SignedIn]:
        return await asyncio.to_thread(self._users.start_session, user)

    async def get(self, session_id: str) -> SignedIn | None:
        return await asyncio.to_thread(self._users.session, session_id)

    async def end(self, session_id: str) -> None:
        await asyncio.to_thread(self._users.end_session, session_id)


class RedisSessions:
    def __init__(self, url: str, users: UserRepository) -> None:
        self._url = url
        self._users = users
        self._ttl = int(SESSION_LIFETIME.total_seconds())

    @staticmethod
    def _key(session_id: str) -> str:
        return f"drux:session:{hash_session_id(session_id)}"

    async def start(self, user: UserInfo) -> tuple[str, SignedIn]:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        value = json.dumps({"user_id": user.id, "csrf": csrf})
        async with guarded(self._url):
            await redis_client(self._url).set(self._key(session_id), value, ex=self._ttl)
        return session_id, SignedIn(user, csrf)

    async def get(self, session_id: str) -> SignedIn | None:
        if not session_id or len(session_id) > _MAX_COOKIE:
            return None
        async with guarded(self._url):
            raw = await redis_client(self._url).get(self._key(session_id))
        if raw is None:
            return None
        stored = json.loads(raw)
        user = await asyncio.to_thread(self._users.by_id, int(stored["user_id"]))
        if user is None or user.disabled:
            await self.end(session_id)
            return None
        return SignedIn(user, str(stored["csrf"]))

    async def end(self, session_id: str) -> None:
        if not session_id or len(session_id) > _MAX_COOKIE:
            return
        async with guarded(self._url):
            await redis_client(self._url).delete(self._key(session_id))


def web_sessions(redis_url: str | None, users: UserRepository) -> WebSessions:
    return RedisSessions(redis_url, users) if redis_url else DatabaseSessions(users)

"""Web sessions in the database (the default) or in Redis with DRUX_REDIS_URL (issue 13):
the same sign-in, sign-out and disabling in both; in Redis a session expires by itself and an
outage is a 503 naming Redis, then sessions work again without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from accounts_web_kit import form_token, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_kit import Scripts, make_services, relaxed

from drux.services import Services
from drux.store.models import WebSession
from drux.store.users import SESSION_LIFETIME
from drux.web.app import create_app
from drux.web.auth import SESSION_COOKIE


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None for the database, else the Redis URL the app is configured with."""
    if request.param == "database":
        return None
    url = str(request.getfixturevalue("redis_url"))
    monkeypatch.setenv("DRUX_REDIS_URL", url)
    return url


@pytest.fixture
def services(drux_env: Path, backend: str | None) -> Services:
    services = make_services(drux_env, Scripts())
    services.store.users.create("bob", "long enough")
    return services


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, relaxed())) as c:
        yield c


def _db_sessions(services: Services) -> int:
    with services.store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(WebSession)) or 0)


def _redis_keys(url: str) -> list[Any]:
    with redis.Redis.from_url(url) as r:
        return list(r.scan_iter("drux:session:*"))


def test_sign_in_out_where_the_session_lives(services: Services, client: TestClient,
                                             backend: str | None) -> None:
    assert sign_in(client, "bob").status_code == 303
    assert client.get("/history").status_code == 200
    if backend is None:
        assert _db_sessions(services) == 1
    else:
        assert _db_sessions(services) == 0
        (key,) = _redis_keys(backend)
        with redis.Redis.from_url(backend) as r:
            ttl = r.ttl(key)
        assert SESSION_LIFETIME.total_seconds() - 60 < ttl <= SESSION_LIFETIME.total_seconds()
        assert client.cookies[SESSION_COOKIE] not in key.decode()  # only its hash is stored
    home = client.get("/")
    client.post("/logout", data={"csrf_token": form_token(home.text)}, follow_redirects=False)
    assert client.get("/history", follow_redirects=False).status_code == 303
    assert (_db_sessions(services) if backend is None else len(_redis_keys(backend))) == 0


def test_disabling_an_account_ends_its_sessions(services: Services, client: TestClient) -> None:
    assert sign_in(client, "bob").status_code == 303
    assert client.get("/history").status_code == 200
    services.store.users.disable("bob")
    assert client.get("/history", follow_redirects=False).status_code == 303


@pytest.mark.redis
def test_a_redis_outage_is_a_503_then_sessions_resume(redis_server: Any, drux_env: Path,
                                                      redis_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    services = make_services(drux_env, Scripts())
    services.store.users.create("bob", "long enough")
    with TestClient(create_app(services, relaxed())) as client:
        assert sign_in(client, "bob").status_code == 303
        redis_server.stop()
        try:
            down = client.get("/api/asks")
            assert down.status_code == 503
            assert down.json()["error"]["type"] == "redis_unavailable"
            assert "Redis" in down.json()["error"]["message"]
        finally:
            redis_server.start()
        # The test server keeps nothing on disk: the session is gone, signing in works again.
        assert client.get("/api/asks").status_code == 401
        assert sign_in(client, "bob").status_code == 303
        assert client.get("/api/asks").status_code == 200

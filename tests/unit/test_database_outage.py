"""PostgreSQL going away under a running server (issue 11): pages and the API answer a typed
503, the gateway keeps serving the keys it has cached and keeps its usage rows until it can
write them, the log gets warning lines but no traceback, and everything works again once the
database is back, without a restart.

The test stops and restarts a PostgreSQL cluster of its own, so the suite's shared cluster
(``pg_cluster``) is never stopped under another test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.gateway import create_gateway_app
from drux.web.app import GatewayDispatch, create_app

from waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

QUESTION = {"question": "At what temperature does water boil?"}


@pytest.fixture
def own_cluster() -> Iterator[Any]:
    from pgcluster import find_bindir, start_cluster

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make postgresql installs it)")
    cluster = start_cluster(bindir)
    yield cluster
    cluster.stop()


def _chat(client: TestClient, secret: str) -> Any:
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                       json={"model": "alpha", "messages": [{"role": "user", "content": "hi"}]})


def _refused(response: Any, path: str) -> None:
    assert response.status_code == 503, (path, response.status_code, response.text[:300])
    if path.startswith("/api/"):
        assert response.json()["error"]["type"] == "store_error", path
    else:
        assert "Temporarily unavailable" in response.text, path


def _while_down(client: TestClient, ask_id: str) -> None:
    for path in ("/api/asks", f"/api/asks/{ask_id}", f"/api/asks/{ask_id}/events",
                 "/api/articles", f"/r/{ask_id}", "/history", "/"):
        _refused(client.get(path), path)
    _refused(client.post("/api/asks", json=QUESTION), "/api/asks")
    # A cookie is looked up in the sessions table: that too is a 503, not a sign-in page.
    client.cookies.set("drux_session", "x" * 40)
    try:
        _refused(client.get("/api/asks"), "/api/asks")
    finally:
        client.cookies.clear()


def test_the_server_rides_out_a_postgres_outage(drux_env: Path, own_cluster: Any,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DRUX_DATABASE_URL", own_cluster.create_database("drux"))
    scripts = Scripts()
    services = make_services(drux_env, scripts)
    _info, secret = services.store.keys.create("team")
    gateway = create_gateway_app(services, adapter_factory=scripts)
    app = GatewayDispatch(create_app(services, relaxed(), gateway=gateway), gateway)  # drux serve
    caplog.set_level(logging.WARNING)
    with TestClient(app) as client:
        started = client.post("/api/asks", json=QUESTION)
        assert started.status_code == 202, started.text
        ask_id = started.json()["id"]
        events = sse_events(client.get(f"/api/asks/{ask_id}/events").text)
        assert events[-1][1]["type"] == "done"
        assert _chat(client, secret).status_code == 200

        own_cluster.halt()
        try:
            _while_down(client, ask_id)
            # The gateway serves the key it has cached; its usage row waits in memory.
            served = _chat(client, secret)
            assert served.status_code == 200, served.text
            wait_until(lambda: any("usage not recorded yet" in r.getMessage()
                                   for r in caplog.records), "no flush was tried while down")
            assert gateway.usage.pending >= 1
        finally:
            own_cluster.resume()

        # Back without a restart: the same app answers and writes the rows it kept.
        wait_until(lambda: client.get("/api/asks").status_code == 200,
                   "the API never recovered")
        assert client.get(f"/r/{ask_id}").status_code == 200
        assert client.post("/api/asks", json=QUESTION).status_code == 202
        wait_until(lambda: sum(u["requests"] for u in services.store.keys.usage()) == 2,
                   "the usage rows kept during the outage were never written")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("usage not recorded yet" in m for m in messages) == 1, messages  # per outage
    assert sum("usage is recorded again" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info], [
        r.getMessage() for r in caplog.records if r.exc_info]
    assert all("\n" not in r.getMessage() for r in caplog.records)

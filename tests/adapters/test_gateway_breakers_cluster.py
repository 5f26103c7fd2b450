"""Two `drux gateway` processes on one Redis and one data folder share their breakers: failures
through worker A open the breaker; worker B then refuses without calling the upstream; after
the cooldown one probe reaches the upstream for both, and its success closes the breaker on
both. The upstream is the fake OpenAI server; its request log counts the calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from drux.gateway.routes import ModelDirectory
from drux.gateway.settings import load_gateway_settings
from drux.routing.fallback import FallbackProvider
from drux.services import Services
from drux.state.breakers.redis import CHANNEL, read_verdicts

from fakes import Fail, FakeServer, Reply
from waiting import PATIENCE_S, REQUEST_S, first_answer, wait_until

UPSTREAM = "up-solo"
DEPLOYMENT = "fakeai:m-solo"
COOLDOWN = 6.0  # long enough to ask B while open on a loaded machine, short enough to wait
PROBE_HELD = 5.0  # the upstream holds the probe this long, so others ask while it is out
BODY = {"model": "m-solo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def _config(fake: FakeServer, cooldown: float = COOLDOWN) -> str:
    return "\n".join([
        "[providers.fakeai]", f'base_url = "{fake.openai_url}"', "key_required = false",
        "paid = false", "", "[models.m-solo]", 'provider = "fakeai"', f'model = "{UPSTREAM}"', "",
        "[gateway]", 'models = ["m-solo"]', "",
        "[routing.retry]", "max_attempts = 1", "",  # one upstream call per request
        "[routing.breaker]", "consecutive_failures = 2", f"cooldown = {cooldown}", ""])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workers(request: pytest.FixtureRequest, drux_env: Path, redis_url: str,
            fake_llm: FakeServer) -> Iterator[tuple[str, str]]:
    """Two gateway processes; ``indirect`` parametrization sets the breaker's cooldown."""
    (drux_env / "project.toml").write_text(_config(fake_llm, getattr(request, "param",
                                                                     COOLDOWN)))
    env = {**os.environ, "DRUX_REDIS_URL": redis_url}
    procs: list[subprocess.Popen[str]] = []
    urls = []
    try:
        for _ in range(2):
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-c", "from drux.cli import main; main()", "gateway",
                 "--port", str(port)], env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            first_answer(f"{url}/health", proc, "drux gateway")
            urls.append(url)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            log, _ = proc.communicate(timeout=PATIENCE_S)
            assert "Traceback" not in log, log


def chat(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=REQUEST_S)


def refused(url: str) -> str:
    """The code of a refusal from ``url`` (asserting it was one)."""
    response = chat(url)
    assert response.status_code == 503, response.text
    return str(response.json()["error"]["code"])


def subscribers(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(dict(client.pubsub_numsub(CHANNEL))[CHANNEL.encode()])
    finally:
        client.close()


def breaker_state(redis_url: str) -> str | None:
    states = read_verdicts(redis_url) or {}
    return states.get(DEPLOYMENT, {}).get("state")


def test_the_gateways_own_routes_follow_the_routing_table(drux_env: Path,
                                                        fake_llm: FakeServer) -> None:
    (drux_env / "project.toml").write_text(_config(fake_llm))
    services = Services.from_settings()
    directory = ModelDirectory(services, load_gateway_settings(services.settings))
    route = directory.provider("m-solo")
    assert isinstance(route, FallbackProvider)
    breaker = route.deployments[0].breaker
    assert breaker is not None and breaker.policy.consecutive_failures == 2
    assert breaker.policy.cooldown == COOLDOWN


@pytest.mark.redis
@pytest.mark.slow
def test_a_breaker_opened_on_one_worker_is_open_on_the_other_and_one_probe_closes_both(
        workers: tuple[str, str], fake_llm: FakeServer, redis_url: str) -> None:
    a, b = workers
    hits = lambda: len(fake_llm.requests_for(model=UPSTREAM))  # noqa: E731
    fake_llm.script(UPSTREAM, Fail("server"))
    for _ in range(2):
        assert chat(a).status_code >= 500
    before = hits()  # the adapter may retry a 500 itself: at least one call per request
    assert before >= 2
    wait_until(lambda: breaker_state(redis_url) == "open", "A's open breaker never reached Redis")

    # B never failed, yet refuses at once: the breaker A opened is open on B too.
    for _ in range(3):
        assert refused(b) == "circuit_open"
    assert hits() == before

    wait_until(lambda: breaker_state(redis_url) == "half_open", "the cooldown never ended",
               patience=COOLDOWN + PATIENCE_S)
    fake_llm.script(UPSTREAM, Reply(text="back", delay=PROBE_HELD), Reply(text="back"))
    probe: dict[str, httpx.Response] = {}
    sender = threading.Thread(target=lambda: probe.setdefault("response", chat(b)))
    sender.start()
    wait_until(lambda: hits() == before + 1, "the probe never reached the upstream")
    # While B's probe is out, neither worker sends another, A included.
    for url in (a, b, a):
        assert refused(url) == "circuit_open"
    sender.join(PATIENCE_S)
    assert probe["response"].status_code == 200, probe["response"].text
    assert hits() == before + 1  # exactly one probe for the cluster

    # The probe's success closed the breaker for both (A refuses until B's verdict arrives,
    # without calling the upstream, so each try below is at most one upstream call).
    wait_until(lambda: chat(a).status_code == 200, "A stayed open after B's probe succeeded")
    assert hits() == before + 2
    assert chat(b).status_code == 200
    assert hits() == before + 3
    assert breaker_state(redis_url) == "closed"

    status = subprocess.run(
        [sys.executable, "-c", "from drux.cli import main; main()", "status", "--json"],
        env={**os.environ, "DRUX_REDIS_URL": redis_url}, capture_output=True, text=True,
        timeout=PATIENCE_S)
    assert status.returncode == 0, status.stderr
    rows = {r["deployment"]: r for r in json.loads(status.stdout)}
    assert rows[DEPLOYMENT]["state"] == "closed"
    assert rows[DEPLOYMENT]["breaker_scope"] == "cluster"


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("workers", [120.0], indirect=True)  # stays open however slow the run
def test_without_redis_each_worker_decides_alone_and_shares_again_when_it_is_back(
        workers: tuple[str, str], fake_llm: FakeServer, redis_url: str,
        redis_server: Any) -> None:
    a, b = workers
    hits = lambda: len(fake_llm.requests_for(model=UPSTREAM))  # noqa: E731
    fake_llm.script(UPSTREAM, Fail("server"))
    redis_server.stop()
    try:
        for _ in range(2):
            assert chat(a).status_code >= 500  # served as ever: the upstream's own error
        assert refused(a) == "circuit_open"  # A's breaker opened on A's failures alone
        before = hits()
        assert chat(b).status_code >= 500  # B has not heard: it still asks the upstream
        assert hits() > before
    finally:
        redis_server.start()
    # Back: A publishes the verdict it made meanwhile (no restart), and B, once subscribed
    # again (and so in step: it reads the stored verdicts right after subscribing), adopts it.
    wait_until(lambda: breaker_state(redis_url) == "open", "A's verdict never reached Redis")
    wait_until(lambda: subscribers(redis_url) == 2, "the workers never subscribed again")
    before = hits()
    for _ in range(3):
        assert refused(b) == "circuit_open"
    assert hits() == before

"""A key's limits across gateway processes sharing one Redis and one database (issue 11).

Two real ``drux gateway`` processes (and one with ``--workers 2``) on one Redis and one SQLite
file; calls alternate between them. Before Redis-backed limits, each process kept its own
windows: ``--workers 2`` let 10 requests through a key limited to 5 a minute."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import MODELS, running_gateway, write_config

from drux.config import Settings
from drux.store import Store

from fakes import FakeServer, Reply
from waiting import PATIENCE_S, first_answer, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CATALOG = [*MODELS, ("m-thousand", "up-thousand", "input_price = 1000.0\noutput_price = 1000.0")]
MESSAGES = [{"role": "user", "content": "Say hello."}]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway_process(redis_url: str, workers: int = 1) -> Iterator[str]:
    port = _port()
    env = {**os.environ, "DRUX_REDIS_URL": redis_url, "DRUX_GATEWAY_KEY_REFRESH_SECONDS": "0.5",
           "DRUX_GATEWAY_USAGE_FLUSH_SECONDS": "0.2"}
    proc = subprocess.Popen([sys.executable, "-c", "from drux.cli import main; main()",
                             "gateway", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first_answer(f"http://127.0.0.1:{port}/health", proc, "drux gateway")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(PATIENCE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def cluster(fake_llm: FakeServer, drux_env: Path,
            redis_url: str) -> Iterator[Callable[[int], list[str]]]:
    """Starts the gateways; create the test's key first: a gateway that started with no key
    lets loopback calls in without one until its first reload sees the key."""
    write_config(drux_env / "project.toml", fake_llm, models=CATALOG)
    with (drux_env / "project.toml").open("a") as f:
        f.write('\n[gateway]\nmodels = ["m-thousand", "m-solo"]\n')
    with ExitStack() as stack:
        def start(workers: int) -> list[str]:
            if workers > 1:
                return [stack.enter_context(gateway_process(redis_url, workers))]
            return [stack.enter_context(gateway_process(redis_url)) for _ in range(2)]

        yield start


@pytest.fixture
def store(drux_env: Path) -> Iterator[Store]:
    s = Store(Settings().db_url)
    yield s
    s.close()


def fire(urls: list[str], secret: str, n: int, **body: Any) -> list[httpx.Response]:
    """``n`` calls at once, alternating between the gateways."""
    payload = {"model": "m-thousand", "messages": MESSAGES, **body}

    def one(i: int) -> httpx.Response:
        return httpx.post(f"{urls[i % len(urls)]}/chat/completions", json=payload, timeout=60,
                          headers={"Authorization": f"Bearer {secret}"})

    with ThreadPoolExecutor(min(n, 25)) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize(("workers", "budget"), [(1, None), (2, None), (1, 1000.0)])
def test_requests_per_minute_hold_across_workers(cluster: Callable[[int], list[str]],
                                                 store: Store, workers: int,
                                                 budget: float | None) -> None:
    # Without a budget the limits library counts; with one, the reservation's script does.
    _, secret = store.keys.create("r", rpm=5, budget_usd=budget)
    urls = cluster(workers)
    codes = [r.status_code for r in fire(urls, secret, 10)]
    assert sorted(codes) == [200] * 5 + [429] * 5


def test_tokens_per_minute_hold_across_two_gateways(cluster: Callable[[int], list[str]],
                                                    store: Store, fake_llm: FakeServer) -> None:
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=95, delay=1.0))
    _, secret = store.keys.create("t", tpm=1000)
    urls = cluster(1)
    # max_tokens 95: each call reserves 17 + 95 tokens, uses 100: 8 fit, the 9th gets 104.
    replies = fire(urls, secret, 20, max_tokens=95)
    used = sum(r.json()["usage"]["total_tokens"] for r in replies if r.status_code == 200)
    assert 800 <= used <= 1000
    assert {r.status_code for r in replies} == {200, 429}


def test_fifty_concurrent_calls_across_two_gateways_keep_the_budget(
        cluster: Callable[[int], list[str]], store: Store, fake_llm: FakeServer) -> None:
    # 0.01 USD a call; max_tokens 5: each reserves 0.022.
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5, delay=1.0))
    key, secret = store.keys.create("b", budget_usd=0.25)
    urls = cluster(1)
    replies = fire(urls, secret, 50, max_tokens=5)
    ok = sum(r.status_code == 200 for r in replies)
    assert ok >= 10 and sum(r.status_code == 429 for r in replies) == 50 - ok

    def spent() -> float | None:
        rows = store.keys.usage(key_id=key.id)
        done = sum(r["requests"] for r in rows)
        return sum(r["cost_usd"] for r in rows) if done == ok else None

    total = wait_until(spent, "the gateways did not record every call")
    assert total == pytest.approx(0.01 * ok) and total <= 0.25 + 1e-9


def test_redis_outage_budgets_fail_closed_rate_limits_open(
        fake_llm: FakeServer, drux_env: Path, redis_server: Any, redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    with running_gateway(fake_llm, drux_env, catalog=CATALOG,
                         models=["m-thousand", "m-solo"]) as gateway:
        keys = gateway.services.store.keys
        _, budgeted = keys.create("b", budget_usd=5.0)
        _, limited = keys.create("r", rpm=100, tpm=100_000)
        urls = [gateway.base_url]
        assert fire(urls, budgeted, 1)[0].status_code == 200
        redis_server.stop()
        try:
            down = fire(urls, budgeted, 1)[0]
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "redis_unavailable"
            assert "Redis" in down.json()["error"]["message"]
            assert fire(urls, limited, 1)[0].status_code == 200  # counted in the process
        finally:
            redis_server.start()
        assert fire(urls, budgeted, 1)[0].status_code == 200  # back, without a restart
        assert fire(urls, limited, 1)[0].status_code == 200

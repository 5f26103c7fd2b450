"""Budgets and tokens per minute under concurrency (issue 11): parallel calls at a key reserve
their maximum before the call, so a slow upstream no longer lets them all through.

Before reservations, 20 parallel calls at a key with a 0.02 USD budget all got 200 and spent
far more than the budget, and 10 parallel calls at 1,500 tokens a minute used 10,050 tokens."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import MODELS, Served, running_gateway

from fakes import Fail, FakeServer, Reply
from waiting import wait_until

# 1000 USD per million tokens each way: a token costs a tenth of a cent.
CATALOG = [*MODELS, ("m-thousand", "up-thousand", "input_price = 1000.0\noutput_price = 1000.0")]
UPSTREAM_DELAY = 2.0  # seconds: every call is still in flight when the others arrive


@pytest.fixture
def gateway(fake_llm: FakeServer, drux_env: Path) -> Iterator[Served]:
    with running_gateway(fake_llm, drux_env, catalog=CATALOG,
                         models=["m-thousand", "m-solo"]) as served:
        yield served


def fire(gateway: Served, secret: str, n: int, **body: Any) -> list[httpx.Response]:
    """``n`` calls at once, each on its own connection."""
    payload = {"model": "m-thousand", "messages": [{"role": "user", "content": "Say hello."}],
               **body}
    # The gateway learns of a key made after it started on the key's first call; calls that
    # arrive while it reloads its table would get in as keyless loopback calls.
    known = httpx.get(f"{gateway.base_url}/models", headers={"Authorization": f"Bearer {secret}"})
    assert known.status_code == 200

    def one(_: int) -> httpx.Response:
        return httpx.post(f"{gateway.base_url}/chat/completions", json=payload, timeout=60,
                          headers={"Authorization": f"Bearer {secret}"})

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def stored_spend(gateway: Served, expected_calls: int) -> float:
    keys = gateway.services.store.keys
    rows = wait_until(lambda: (r := keys.usage()) and sum(x["requests"] for x in r)
                      >= expected_calls and r, "the usage rows were not written")
    return float(sum(r["cost_usd"] for r in rows))


def test_parallel_calls_cannot_spend_past_the_budget(gateway: Served,
                                                     fake_llm: FakeServer) -> None:
    # 5 + 5 tokens: 0.01 USD a call, reserved at most 0.02 (all that is left).
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5, delay=UPSTREAM_DELAY))
    secret = gateway.create_key("b", budget_usd=0.02)
    replies = fire(gateway, secret, 20)
    codes = sorted(r.status_code for r in replies)
    assert set(codes) <= {200, 429}, codes
    ok = codes.count(200)
    assert ok >= 1
    refused = [r for r in replies if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    spent = stored_spend(gateway, ok)
    assert spent == pytest.approx(0.01 * ok)
    assert spent <= 0.02 + 1e-9


def test_calls_that_fit_run_in_parallel_and_the_budget_holds(gateway: Served,
                                                             fake_llm: FakeServer) -> None:
    # max_tokens 5: each call reserves (17 prompt + 5) tokens = 0.022 USD, costs 0.01.
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5, delay=UPSTREAM_DELAY))
    secret = gateway.create_key("b", budget_usd=0.1)
    codes = [r.status_code for r in fire(gateway, secret, 20, max_tokens=5)]
    ok = codes.count(200)
    assert 1 <= ok <= 10 and codes.count(429) == 20 - ok
    assert stored_spend(gateway, ok) <= 0.1 + 1e-9


def test_parallel_calls_cannot_pass_the_tokens_per_minute(gateway: Served,
                                                          fake_llm: FakeServer) -> None:
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=1000,
                                         delay=UPSTREAM_DELAY))
    secret = gateway.create_key("t", tpm=1500)
    replies = fire(gateway, secret, 10)
    used = sum(r.json()["usage"]["total_tokens"] for r in replies if r.status_code == 200)
    assert 1005 <= used <= 1500
    refused = [r for r in replies if r.status_code == 429]
    assert refused and all(r.json()["error"]["type"] == "tokens" for r in refused)
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)


def test_a_failed_call_refunds_its_reservation(gateway: Served, fake_llm: FakeServer) -> None:
    fake_llm.script("up-thousand", Fail("bad_request"),
                    Reply(input_tokens=5, output_tokens=5))
    secret = gateway.create_key("b", budget_usd=0.02)
    assert fire(gateway, secret, 1)[0].status_code == 400
    assert fire(gateway, secret, 1)[0].status_code == 200  # the 0.02 reserved came back

"""A call's settle is not on its request path: with limits on Redis the gateway answers without
waiting for the settle's round trip, and the settles still queued when it stops are sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from gateway_kit import MODELS, running_gateway, write_config

import drux.state.settling
from drux.config import Settings, load_config
from drux.gateway import GatewaySettings, create_gateway_app
from drux.services import Services
from drux.state.reserve import Hold, RedisReserver

from fakes import FakeServer, Reply
from waiting import PATIENCE_S

pytestmark = pytest.mark.redis

CATALOG = [*MODELS, ("m-thousand", "up-thousand", "input_price = 1000.0\noutput_price = 1000.0")]
Batch = Sequence[tuple[Hold, float, int]]


def call(base_url: str, secret: str) -> httpx.Response:
    return httpx.post(f"{base_url}/chat/completions", timeout=PATIENCE_S,
                      headers={"Authorization": f"Bearer {secret}"},
                      json={"model": "m-thousand", "max_tokens": 5,
                            "messages": [{"role": "user", "content": "Say hello."}]})


@pytest.fixture
def on_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    return redis_url


async def test_a_settle_that_blocks_does_not_hold_up_the_request(
        on_redis: str, fake_llm: FakeServer, drux_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    settled: list[int] = []
    send_batch = RedisReserver._settle_batch

    async def held_back(self: RedisReserver, batch: Batch) -> None:
        await release.wait()  # Redis as slow as can be
        await send_batch(self, batch)
        settled.append(len(batch))

    monkeypatch.setattr(RedisReserver, "_settle_batch", held_back)
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5))
    write_config(drux_env / "project.toml", fake_llm, None, CATALOG)
    services = Services(load_config(Settings(timeout=10.0)))
    app = create_gateway_app(services, GatewaySettings(models=["m-thousand", "m-solo"]))
    _, secret = services.store.keys.create("b", budget_usd=1.0, tpm=10_000)
    body = json.dumps({"model": "m-thousand", "max_tokens": 5,
                       "messages": [{"role": "user", "content": "Say hello."}]}).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"authorization", f"Bearer {secret}".encode())],
             "client": ("127.0.0.1", 40000)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        # The server reads a connection's next request, and counts the call done, only when
        # the app returns: a settle awaited there held every call up by a round trip.
        await asyncio.wait_for(app(scope, receive, send), PATIENCE_S)
        assert sent[0]["status"] == 200
        assert settled == []  # the request is over; its settle still waits
    finally:
        release.set()
        await app.shutdown()
        services.store.close()
    assert settled == [1]


def test_settles_still_queued_are_sent_when_the_gateway_stops(
        on_redis: str, fake_llm: FakeServer, drux_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drux.state.settling, "SETTLE_EVERY", 3600.0)  # only shutdown sends
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5))
    with running_gateway(fake_llm, drux_env, catalog=CATALOG,
                         models=["m-thousand", "m-solo"]) as gateway:
        key, secret = gateway.services.store.keys.create("b", budget_usd=1.0)
        assert call(gateway.base_url, secret).status_code == 200
        counter = f"drux:reserve:{{key:{key.id}}}:usd"
        client = redis.Redis.from_url(on_redis)
        # Reserved: 17 prompt + 5 tokens at a tenth of a cent; the call cost 0.01.
        assert float(client.get(counter) or 0) == pytest.approx(0.022)
    assert float(client.get(counter) or 0) == pytest.approx(0.01)
    assert client.zcard(f"drux:reserve:{{key:{key.id}}}:open") == 0
    client.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_the_key_is_charged_before_the_answer_goes_out(
        stream: bool, fake_llm: FakeServer, drux_env: Path) -> None:
    """A client's next call may reach the gateway as soon as the last byte of the previous
    answer does: the reservation must be settled by then, or that call is admitted on the
    balance from before (a key with a 10 USD budget answered a second 15 USD call)."""
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5))
    write_config(drux_env / "project.toml", fake_llm, None, CATALOG)
    services = Services(load_config(Settings(timeout=10.0)))
    app = create_gateway_app(services, GatewaySettings(models=["m-thousand", "m-solo"]))
    _, secret = services.store.keys.create("b", budget_usd=0.005)
    body = json.dumps({"model": "m-thousand", "max_tokens": 5, "stream": stream,
                       "messages": [{"role": "user", "content": "Say hello."}]}).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"authorization", f"Bearer {secret}".encode())],
             "client": ("127.0.0.1", 40000)}
    balance_at_last_byte: list[float] = []
    reserver = app.access._reserver  # type: ignore[attr-defined]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            account = reserver._accounts[next(iter(reserver._accounts))]
            balance_at_last_byte.append(account.outstanding_usd)

    await app.startup()
    try:
        await asyncio.wait_for(app(scope, receive, send), PATIENCE_S)
    finally:
        await app.shutdown()
        await services.aclose()
    # 10 tokens at 1,000 USD per million: what was used, not the reservation (max_tokens 5
    # plus the prompt counted high) and not nothing.
    assert balance_at_last_byte == [pytest.approx(0.01)]

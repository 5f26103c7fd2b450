"""A gateway key far from its limits on Redis is admitted from quota leases (issue 11): far
fewer script calls than calls, and once the gateway stops, Redis holds exactly what was used."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from gateway_kit import MODELS, running_gateway

from fakes import FakeServer, Reply
from waiting import PATIENCE_S

pytestmark = pytest.mark.redis

CATALOG = [*MODELS, ("m-thousand", "up-thousand", "input_price = 1000.0\noutput_price = 1000.0")]
CALLS = 40


def script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("evalsha", "eval"))


def test_calls_at_a_big_key_are_admitted_from_leases(
        redis_url: str, fake_llm: FakeServer, drux_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    fake_llm.script("up-thousand", Reply(input_tokens=5, output_tokens=5))
    client = redis.Redis.from_url(redis_url)
    with running_gateway(fake_llm, drux_env, catalog=CATALOG,
                         models=["m-thousand", "m-solo"]) as gateway:
        # Each call may cost 0.022 USD and 22 tokens: a slice of 1/16 covers far more than 8.
        key, secret = gateway.services.store.keys.create("big", budget_usd=1000.0,
                                                         tpm=1_000_000, rpm=100_000)
        headers = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{gateway.base_url}/models", headers=headers).status_code == 200
        before = script_calls(client)
        with httpx.Client(timeout=PATIENCE_S, headers=headers) as http:
            for _ in range(CALLS):
                reply = http.post(f"{gateway.base_url}/chat/completions",
                                  json={"model": "m-thousand", "max_tokens": 5,
                                        "messages": [{"role": "user", "content": "Say hello."}]})
                assert reply.status_code == 200
        # A lease (and the return of the one before) per second at most, and a batch of
        # settles per 50 ms for calls that outlived their lease: not a script call per call.
        assert script_calls(client) - before < CALLS // 2
    base = f"drux:reserve:{{key:{key.id}}}"
    # Stopped: every lease went back, so Redis holds what the calls used, 10 tokens each.
    assert float(client.get(f"{base}:usd") or 0) == pytest.approx(0.01 * CALLS)
    window = client.hmget(f"{base}:win", "R", "T")
    assert [int(v or 0) for v in window] == [CALLS, 10 * CALLS]
    assert client.zcard(f"{base}:open") == 0
    client.close()

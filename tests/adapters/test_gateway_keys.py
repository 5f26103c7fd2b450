"""Gateway API keys through the real ``openai`` SDK: auth, allowed models, rate
limits, budget, and the usage recorded per key and model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_kit import Served, running_gateway
from sqlalchemy import text

from drux.store.keys import hash_key

from fakes import FakeServer, Reply
from waiting import wait_until

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def gateway(fake_llm: FakeServer, drux_env: Path) -> Iterator[Served]:
    with running_gateway(fake_llm, drux_env) as served:
        yield served


def client(gateway: Served, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def ask(gateway: Served, key: str, model: str = "m-solo") -> str:
    with client(gateway, key) as c:
        return c.chat.completions.create(model=model, messages=MESSAGES).choices[0].message.content or ""


def test_without_any_key_loopback_clients_are_served(gateway: Served) -> None:
    assert ask(gateway, "anything") == "fake answer from up-solo"


def test_once_a_key_exists_a_missing_or_wrong_key_is_a_401(gateway: Served) -> None:
    secret = gateway.create_key()
    assert ask(gateway, secret) == "fake answer from up-solo"
    with pytest.raises(openai.AuthenticationError) as info:
        ask(gateway, secret[:-1] + ("x" if secret[-1] != "x" else "y"))
    assert info.value.code == "invalid_api_key"
    r = httpx.post(f"{gateway.base_url}/chat/completions",
                   json={"model": "m-solo", "messages": MESSAGES})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(f"{gateway.base_url}/models", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_a_revoked_key_stops_working(gateway: Served) -> None:
    secret = gateway.create_key()
    assert ask(gateway, secret)
    gateway.services.store.keys.revoke(secret[:12])

    def refused() -> bool:
        try:
            ask(gateway, secret)
        except openai.AuthenticationError:
            return True
        return False

    wait_until(refused, "the revoked key was still accepted")


def test_open_loopback_setting_lets_local_clients_in_without_a_key(
        fake_llm: FakeServer, drux_env: Path) -> None:
    with running_gateway(fake_llm, drux_env, open_loopback=True) as gw:
        gw.create_key()
        r = httpx.post(f"{gw.base_url}/chat/completions",
                       json={"model": "m-solo", "messages": MESSAGES})
        assert r.status_code == 200


def test_a_key_limited_to_models_gets_403_for_others(gateway: Served) -> None:
    secret = gateway.create_key(models=["m-solo", "g-fast"])
    assert ask(gateway, secret, "g-fast")
    with pytest.raises(openai.PermissionDeniedError) as info:
        ask(gateway, secret, "m-backup")
    assert info.value.code == "model_not_allowed"
    with client(gateway, secret) as c:
        assert [m.id for m in c.models.list()] == ["m-solo", "g-fast"]


def test_requests_per_minute_limit_is_a_429_with_retry_after(gateway: Served) -> None:
    secret = gateway.create_key(rpm=2)
    ask(gateway, secret)
    ask(gateway, secret)
    with pytest.raises(openai.RateLimitError) as info:
        ask(gateway, secret)
    assert info.value.code == "rate_limit_exceeded"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    other = gateway.create_key()
    assert ask(gateway, other)  # limits are per key


def test_tokens_per_minute_limit(gateway: Served, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(input_tokens=30, output_tokens=5))
    secret = gateway.create_key(tpm=30)
    ask(gateway, secret)  # 35 tokens: over the limit only once counted
    with pytest.raises(openai.RateLimitError) as info:
        ask(gateway, secret)
    assert info.value.body["type"] == "tokens"  # type: ignore[index]


def test_budget_is_enforced_and_spend_recorded(gateway: Served, fake_llm: FakeServer) -> None:
    # m-pricey costs 1 USD per token each way; 11 + 4 tokens = 15 USD.
    fake_llm.script("up-pricey", Reply(input_tokens=11, output_tokens=4))
    secret = gateway.create_key(budget_usd=10.0)
    ask(gateway, secret, "m-pricey")
    with pytest.raises(openai.RateLimitError) as info:
        ask(gateway, secret, "m-pricey")
    assert info.value.code == "insufficient_quota"
    keys = gateway.services.store.keys
    spent = wait_until(lambda: [k.spent_usd for k in keys.all() if k.spent_usd],
                       "no spending was recorded")
    assert spent == [pytest.approx(15.0)]


def test_usage_is_recorded_per_key_and_model(gateway: Served, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(input_tokens=3, output_tokens=2))
    secret = gateway.create_key("alice")
    key_id = gateway.services.store.keys.all()[0].id
    ask(gateway, secret, "m-solo")
    ask(gateway, secret, "m-solo")
    with client(gateway, secret) as c:
        list(c.chat.completions.create(model="m-backup", messages=MESSAGES, stream=True))
    keys = gateway.services.store.keys
    rows = wait_until(lambda: len(keys.usage()) == 2 and keys.usage(),
                      lambda: f"usage rows never became two: {keys.usage()}")
    by_model = {r["model"]: r for r in rows}
    assert by_model["m-solo"]["key_id"] == key_id
    assert by_model["m-solo"]["requests"] == 2
    assert (by_model["m-solo"]["input_tokens"], by_model["m-solo"]["output_tokens"]) == (6, 4)
    assert by_model["m-backup"]["requests"] == 1 and by_model["m-backup"]["input_tokens"] == 11


def test_secrets_are_stored_only_as_hashes(gateway: Served, drux_env: Path) -> None:
    secret = gateway.create_key("bob")
    with gateway.services.store.sessions() as session:
        rows = session.execute(text("SELECT prefix, key_hash FROM gateway_keys")).all()
    assert rows == [(secret[:12], hash_key(secret))]
    files = [p for p in (drux_env / "data").iterdir() if p.is_file()]
    assert files and all(secret.encode() not in p.read_bytes() for p in files)

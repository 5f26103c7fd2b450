"""Routing over the real SDK adapters against the wire-level fake vendors on 127.0.0.1.

Each failure mode is played by the fake server on the primary's wire (OpenAI,
Anthropic and Gemini in turn); the route must answer from the fallback, say so,
and keep its breaker and health statistics honest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from drux.catalog import Catalog, ModelSpec, VendorSpec
from drux.config import AppConfig, Settings
from drux.errors import (
    AllDeploymentsFailedError,
    BadRequestError,
    ContextWindowExceededError,
)
from drux.providers import build_provider
from drux.routing import (
    BreakerPolicy,
    BreakerProvider,
    CircuitBreaker,
    Deployment,
    FallbackProvider,
    HealthRegistry,
    HedgePolicy,
    RetryingProvider,
    RetryPolicy,
    RoutingPolicy,
    build_route,
)
from drux.types import ChatRequest, Message, collect

from fakes import Disconnect, Fail, FakeServer, Reply, closed_port_url

PROTOCOLS = ("openai", "anthropic", "gemini")
BACKUP_TEXT = "answer from the backup"
POLICY = RoutingPolicy(
    retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, max_retry_after=1.0),
    breaker=BreakerPolicy(consecutive_failures=3, cooldown=60.0),
    hedge=HedgePolicy(enabled=False),
    deadline=20.0,
    stream_idle_timeout=0.5,
)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.script("backup-up", Reply(text=BACKUP_TEXT))
        yield fake


def _url(server: FakeServer, protocol: str) -> str:
    return {"openai": server.openai_url, "anthropic": server.anthropic_url,
            "gemini": server.gemini_url}[protocol]


def make_config(server: FakeServer, primary: str, *, primary_url: str | None = None) -> AppConfig:
    backup = "anthropic" if primary == "openai" else "openai"
    vendors = {
        "prim": VendorSpec("prim", primary, "fam-prim", primary_url or _url(server, primary)),  # type: ignore[arg-type]
        "back": VendorSpec("back", backup, "fam-back", _url(server, backup)),  # type: ignore[arg-type]
    }
    catalog = Catalog(vendors=vendors)
    catalog.with_model(ModelSpec("primary", "prim", "primary-up", "fam-prim", context=8000,
                                 fallbacks=("backup",)))
    catalog.with_model(ModelSpec("backup", "back", "backup-up", "fam-back", context=100_000))
    return AppConfig(settings=Settings(timeout=10.0), catalog=catalog,
                     explicit_keys={"prim": "test-key", "back": "test-key"})


def make_route(server: FakeServer, primary: str, policy: RoutingPolicy = POLICY,
               **kw: Any) -> tuple[FallbackProvider, HealthRegistry]:
    registry = HealthRegistry()
    return build_route("primary", make_config(server, primary, **kw), registry,
                       policy=policy), registry


def ask(text: str = "Hello?") -> ChatRequest:
    return ChatRequest([Message("user", text)], model="primary", max_tokens=20, timeout=20.0)


def health(registry: HealthRegistry, name: str) -> dict[str, Any]:
    return next(row for row in registry.snapshot() if row["deployment"] == name)


async def run(route: FallbackProvider, streaming: bool) -> Any:
    if streaming:
        return await collect(route.stream(ask()), model="primary")
    return await route.complete(ask())


# kind, expected breaker state of the primary after one routed request, primary requests
FAILOVER_CASES = [
    ("not_found", "open", 1),  # withdrawn model: open at once, no retry
    ("permission", "open", 1),
    ("server", "closed", 2),  # retried once, then the fallback
    ("overloaded", "closed", 2),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("primary", PROTOCOLS)
@pytest.mark.parametrize(("kind", "state", "hits"), FAILOVER_CASES)
async def test_status_failures_fail_over(server: FakeServer, primary: str, kind: str, state: str,
                                         hits: int, streaming: bool) -> None:
    server.script("primary-up", Fail(kind))  # type: ignore[arg-type]
    route, registry = make_route(server, primary)
    try:
        answer = await run(route, streaming)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert answer.substituted_for == "primary" and answer.answered_by == "backup"
    assert route.answered_by(answer.deployment).family == "fam-back"  # type: ignore[union-attr]
    assert len(server.requests_for(model="primary-up")) == hits
    assert health(registry, "prim:primary")["state"] == state


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_withdrawn_model_is_not_asked_again(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("not_found"))
    route, registry = make_route(server, primary)
    try:
        for _ in range(5):
            assert (await run(route, True)).text == BACKUP_TEXT
    finally:
        await route.aclose()
    assert len(server.requests_for(model="primary-up")) == 1
    row = health(registry, "prim:primary")
    assert row["last_error"]["type"] == "model_not_found"
    assert row["rejected_count"] == 4


@pytest.mark.parametrize("primary", ["openai", "anthropic"])  # Gemini sends RetryInfo instead
async def test_rate_limit_retry_after_is_honoured(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("rate_limit", retry_after=0.3), Reply(text="primary ok"))
    cfg = make_config(server, primary)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    spec = cfg.catalog.model("primary")
    guarded = BreakerProvider(build_provider(spec, cfg), CircuitBreaker("prim:primary"))
    retrying = RetryingProvider(guarded, POLICY.retry, sleep=sleep, rand=lambda: 0.0)
    route = FallbackProvider("primary", [Deployment("prim:primary", "primary", "fam-prim",
                                                    retrying)], hedge=HedgePolicy(enabled=False))
    try:
        answer = await run(route, True)
    finally:
        await route.aclose()
    assert answer.text == "primary ok" and answer.substituted_for is None
    assert waits == [pytest.approx(0.3)]  # the header's value, parsed by the real adapter
    assert len(server.requests_for(model="primary-up")) == 2


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_long_retry_after_fails_over_at_once(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("rate_limit", retry_after=30))
    route, _ = make_route(server, primary)
    try:
        answer = await run(route, False)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert len(server.requests_for(model="primary-up")) == 1


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_connection_refused_fails_over(server: FakeServer, primary: str,
                                             streaming: bool) -> None:
    dead = closed_port_url() + ("/v1" if primary == "openai" else "")
    route, registry = make_route(server, primary, primary_url=dead)
    try:
        answer = await run(route, streaming)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert health(registry, "prim:primary")["last_error"]["type"] == "connection_error"


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_disconnect_without_answer_fails_over(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Disconnect())
    route, _ = make_route(server, primary)
    try:
        answer = await run(route, True)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_timeout_before_headers_fails_over(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Reply(delay=30.0))
    policy = RoutingPolicy(retry=RetryPolicy(max_attempts=1), attempt_timeout=0.5,
                           hedge=HedgePolicy(enabled=False))
    route, registry = make_route(server, primary, policy)
    try:
        answer = await run(route, True)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert health(registry, "prim:primary")["last_error"]["type"] == "timeout"


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_hedge_beats_a_slow_first_token(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Reply(delay=30.0))
    policy = RoutingPolicy(hedge=HedgePolicy(enabled=True, default=0.3, floor=0.05))
    route, registry = make_route(server, primary, policy)
    try:
        answer = await run(route, True)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT and answer.substituted_for == "primary"
    assert health(registry, "prim:primary")["failures"] == 1  # overtaken counts as slow


@pytest.mark.parametrize("primary", PROTOCOLS)
@pytest.mark.parametrize("trouble", [
    {"stall_after": 2}, {"drop_after": 2}, {"malformed_after": 2},
], ids=["stall", "drop", "malformed_sse"])
async def test_mid_stream_failure_restarts_on_fallback(server: FakeServer, primary: str,
                                                       trouble: dict[str, int]) -> None:
    server.script("primary-up", Reply(text="one two three four five six", **trouble))
    route, _ = make_route(server, primary)
    chunks = []
    try:
        async for chunk in route.stream(ask()):
            chunks.append(chunk)
    finally:
        await route.aclose()
    restarts = [i for i, c in enumerate(chunks) if c.restart]
    assert len(restarts) == 1
    before = "".join(c.text for c in chunks[: restarts[0]])
    assert before and before.startswith("one")
    after = "".join(c.text for c in chunks[restarts[0]:])
    assert after == BACKUP_TEXT
    completion = await collect(_replay(chunks), model="primary")
    assert completion.recovered and completion.text == BACKUP_TEXT


async def _replay(chunks: list[Any]) -> Any:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_malformed_json_answer_fails_over(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Reply(malformed_after=0))
    route, registry = make_route(server, primary)
    try:
        answer = await run(route, False)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert health(registry, "prim:primary")["last_error"]["type"] == "malformed_response"


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_bad_request_is_not_retried_or_failed_over(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("bad_request"))
    route, registry = make_route(server, primary)
    try:
        with pytest.raises(BadRequestError):
            await run(route, False)
    finally:
        await route.aclose()
    assert len(server.requests_for(model="primary-up")) == 1
    assert server.requests_for(model="backup-up") == []
    assert health(registry, "prim:primary")["state"] == "closed"


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_context_window_goes_to_the_larger_model(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("context_window"))
    route, _ = make_route(server, primary)
    try:
        answer = await run(route, True)
    finally:
        await route.aclose()
    assert answer.text == BACKUP_TEXT
    assert len(server.requests_for(model="primary-up")) == 1


async def test_context_window_without_larger_model_is_reported(server: FakeServer) -> None:
    server.script("primary-up", Fail("context_window"))
    cfg = make_config(server, "openai")
    cfg.catalog.override_model("backup", context=8000)
    route = build_route("primary", cfg, HealthRegistry(), policy=POLICY)
    try:
        with pytest.raises(ContextWindowExceededError):
            await run(route, False)
    finally:
        await route.aclose()
    assert server.requests_for(model="backup-up") == []


@pytest.mark.parametrize("primary", PROTOCOLS)
async def test_everything_down_lists_each_attempt(server: FakeServer, primary: str) -> None:
    server.script("primary-up", Fail("overloaded"))
    server.script("backup-up", Fail("server"))
    route, _ = make_route(server, primary)
    try:
        with pytest.raises(AllDeploymentsFailedError) as info:
            await run(route, True)
    finally:
        await route.aclose()
    assert [a.code for a in info.value.attempts] == ["overloaded", "server_error"]
    assert [a.model for a in info.value.attempts] == ["primary", "backup"]

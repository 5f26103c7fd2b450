"""HealthRegistry, RoutingPolicy, build_route wiring and background probes."""

from __future__ import annotations

from typing import Any

import pytest
from routing_fakes import Fail, FakeClock, Hang, Reply, ScriptedProvider

from drux.catalog import Catalog, ModelSpec, VendorSpec
from drux.config import AppConfig, Settings
from drux.errors import (
    AllDeploymentsFailedError,
    ConfigError,
    MissingKeyError,
    ModelNotFoundError,
    ServerError,
)
from drux.routing import (
    BreakerPolicy,
    BreakerProvider,
    HealthProber,
    HealthRegistry,
    HedgePolicy,
    ProbePolicy,
    RetryPolicy,
    RoutingPolicy,
    build_route,
    chain_for,
    probe_targets,
)
from drux.routing.health import percentile
from drux.types import ChatRequest, Message, collect

REQ = ChatRequest([Message("user", "hi")])


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0


def test_quantiles_follow_the_window_as_it_slides() -> None:
    """The sorted copy the quantiles read drops what the window drops (repeats included),
    so every answer equals a fresh sort of the window."""
    import random

    rand = random.Random(7)
    registry = HealthRegistry(window=16)
    for i in range(500):
        value = float(rand.choice((1, 2, 2, 3, 5, 8))) if i % 3 else rand.random()
        registry.record_success("v:m", latency=value, ttft=value / 2)
        if i % 7 == 0:
            registry.record_ttft("v:m", value)
        entry = registry.get("v:m")
        assert entry is not None
        assert entry.latencies_sorted == sorted(entry.latencies)
        assert entry.ttfts_sorted == sorted(entry.ttfts)
        for q in (0.0, 0.5, 0.95, 1.0):
            assert registry.latency_quantile("v:m", q) == percentile(entry.latencies, q)
            assert registry.ttft_quantile("v:m", q) == percentile(entry.ttfts, q)
    assert registry.latency_quantile("v:m", 0.5, min_samples=17) is None
    assert registry.latency_quantile("nobody", 0.5) is None


def test_snapshot_is_plain_and_windows_are_bounded() -> None:
    wall = FakeClock()
    registry = HealthRegistry(window=4, wall_clock=wall)
    registry.register("v:m", model="m", vendor="v", family="f")
    for latency in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        registry.record_success("v:m", latency=latency, ttft=latency / 10)
    registry.record_failure("v:m", ServerError("boom", provider="v:m", status=500))
    row = registry.snapshot()[0]
    assert row["deployment"] == "v:m" and row["family"] == "f" and row["state"] == "closed"
    assert row["requests"] == 7 and row["failures"] == 1
    assert row["window"] == 4 and row["error_rate"] == 0.25
    assert row["latency_p50_s"] == 4.0  # the window holds 3, 4, 5, 6
    assert row["ttft_p95_s"] == pytest.approx(0.6)
    assert row["last_error"] == {"type": "server_error", "message": "boom", "retryable": True,
                                 "provider": "v:m", "model": "", "status": 500}
    assert row["last_error_at"] == wall.now
    assert all(isinstance(v, str | int | float | dict | type(None)) for v in row.values())


def test_routing_policy_from_dict() -> None:
    policy = RoutingPolicy.from_dict({"deadline": 30, "retry": {"max_attempts": 4},
                                      "hedge": {"enabled": False}})
    assert policy.deadline == 30 and policy.retry.max_attempts == 4
    assert not policy.hedge.enabled and policy.breaker == BreakerPolicy()
    with pytest.raises(ConfigError, match="unknown keys: nope"):
        RoutingPolicy.from_dict({"nope": 1})
    with pytest.raises(ConfigError, match=r"routing\.retry"):
        RoutingPolicy.from_dict({"retry": {"tries": 3}})
    with pytest.raises(ConfigError):
        RoutingPolicy.from_dict({"breaker": 5})
    # Wrong types used to pass here and fail later, mid-request.
    for table, complaint in (({"deadline": "x"}, "deadline must be a number"),
                             ({"breaker": {"consecutive_failures": "3"}}, "whole number"),
                             ({"retry": {"max_attempts": 0}}, "max_attempts"),
                             ({"hedge": {"enabled": 1}}, "true or false"),
                             ({"hedge": {"quantile": 5}}, "at most 1")):
        with pytest.raises(ConfigError, match=complaint):
            RoutingPolicy.from_dict(table)
    assert RoutingPolicy.from_dict({"hedge": {"min_samples": 0}}).hedge.min_samples == 0


def config(drux_env: Any) -> AppConfig:
    catalog = Catalog(vendors={"va": VendorSpec("va", "openai", "fa", paid=True),
                               "vb": VendorSpec("vb", "openai", "fb", paid=False),
                               "vc": VendorSpec("vc", "openai", "fc")})
    catalog.with_model(ModelSpec("alpha", "va", "alpha-up", "fa", context=1000,
                                 equivalents=("alpha2",), fallbacks=("beta", "gamma")))
    catalog.with_model(ModelSpec("alpha2", "vc", "alpha-up", "fa", context=1000))
    catalog.with_model(ModelSpec("beta", "vb", "beta-up", "fb", context=2000,
                                 fallbacks=("alpha",)))
    catalog.with_model(ModelSpec("gamma", "vc", "gamma-up", "fc"))
    return AppConfig(settings=Settings(), catalog=catalog, explicit_keys={})


class Factory:
    def __init__(self, scripts: dict[str, list[Any]], missing: tuple[str, ...] = ()) -> None:
        self.scripts = scripts
        self.missing = missing
        self.built: dict[str, ScriptedProvider] = {}

    def __call__(self, spec: ModelSpec, cfg: AppConfig) -> ScriptedProvider:
        if spec.id in self.missing:
            raise MissingKeyError(f"no API key for {spec.vendor}")
        fake = ScriptedProvider(f"adapter-{spec.id}", self.scripts.get(spec.id, [Reply()]))
        self.built[spec.id] = fake
        return fake


FAST = RoutingPolicy(retry=RetryPolicy(max_attempts=1), hedge=HedgePolicy(enabled=False))


def test_chain_order_equivalents_then_fallbacks(drux_env: Any) -> None:
    cfg = config(drux_env)
    assert [s.id for s in chain_for("alpha", cfg, RoutingPolicy())] == [
        "alpha", "alpha2", "beta", "gamma"]
    assert [s.id for s in chain_for("alpha", cfg, RoutingPolicy(use_equivalents=False))] == [
        "alpha", "beta", "gamma"]
    assert [s.id for s in chain_for("alpha", cfg, RoutingPolicy(max_chain=2))] == [
        "alpha", "alpha2"]


async def test_build_route_fails_over_and_names_family(drux_env: Any) -> None:
    cfg = config(drux_env)
    factory = Factory({"alpha": [Fail(ModelNotFoundError("404"))],
                       "alpha2": [Fail(ServerError("500"))]})
    registry = HealthRegistry()
    route = build_route("alpha", cfg, registry, factory, FAST)
    completion = await collect(route.stream(REQ), model="alpha")
    assert completion.deployment == "vb:beta" and completion.substituted_for == "alpha"
    answered = route.answered_by(completion.deployment)
    assert answered is not None and answered.family == "fb"
    states = {row["deployment"]: row for row in registry.snapshot()}
    assert states["va:alpha"]["state"] == "open"  # the 404 opened it at once
    assert states["vc:alpha2"]["failures"] == 1
    # The open breaker is shared: a second route using alpha never calls it.
    calls_before = factory.built["alpha"].calls
    other = build_route("beta", cfg, registry, Factory({"beta": [Fail(ServerError("500"))]}),
                        FAST)
    with pytest.raises(AllDeploymentsFailedError) as info:
        await other.complete(REQ)
    assert [a.code for a in info.value.attempts] == ["server_error", "circuit_open"]
    assert [a.provider for a in info.value.attempts] == ["vb:beta", "va:alpha"]
    assert registry.get_breaker("va:alpha") is route.deployments[0].breaker
    assert factory.built["alpha"].calls == calls_before


async def test_build_route_skips_unbuildable_fallbacks(drux_env: Any) -> None:
    cfg = config(drux_env)
    registry = HealthRegistry()
    route = build_route("alpha", cfg, registry, Factory({}, missing=("alpha2",)), FAST)
    assert [d.name for d in route.deployments] == ["va:alpha", "vb:beta", "vc:gamma"]
    states = {row["deployment"]: row for row in registry.snapshot()}
    assert states["vc:alpha2"]["last_error"]["type"] == "missing_api_key"
    with pytest.raises(MissingKeyError):
        build_route("alpha", cfg, registry, Factory({}, missing=("alpha",)), FAST)


async def test_probes_skip_paid_vendors_and_respect_interval(drux_env: Any) -> None:
    cfg = config(drux_env)
    registry = HealthRegistry()
    route = build_route("alpha", cfg, registry, Factory({"gamma": [Fail(ServerError("500"))]}),
                        FAST)
    clock = FakeClock()
    targets = probe_targets([route])
    assert set(targets) == {"va:alpha", "vc:alpha2", "vb:beta", "vc:gamma"}
    prober = HealthProber(registry, targets, ProbePolicy(interval=60.0), clock=clock)
    assert await prober.tick() == {"vb:beta": True}  # the only unpaid vendor
    assert await prober.tick() == {}  # rate-limited
    clock.advance(61.0)
    assert await prober.tick() == {"vb:beta": True}
    paid = HealthProber(registry, targets, ProbePolicy(allow_paid=True), clock=clock)
    results = await paid.tick()
    assert results["vc:gamma"] is False and results["va:alpha"] is True
    assert registry.get("vc:gamma") is not None
    assert registry.get("vc:gamma").last_error["type"] == "server_error"  # type: ignore[union-attr]


async def test_probe_timeout_counts_as_failure_and_open_breaker_is_not_probed() -> None:
    registry = HealthRegistry()
    registry.register("x:hung", paid=False)
    breaker = registry.breaker("x:hung", BreakerPolicy(consecutive_failures=1))
    guard = BreakerProvider(ScriptedProvider("x:hung", [Hang()]), breaker, registry=registry)
    prober = HealthProber(registry, {"x:hung": guard}, ProbePolicy(timeout=0.01, interval=0.0))
    assert await prober.tick() == {"x:hung": False}
    assert breaker.state.value == "open"
    assert await prober.tick() == {}

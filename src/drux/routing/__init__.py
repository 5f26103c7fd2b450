"""Business continuity: routes that keep answering when a deployment fails.

A route is a provider that wraps providers, built by ``build_route``::

    FallbackProvider(chain, hedged)            hedge.py, fallback.py
      └─ per deployment: RetryingProvider      retry.py
           └─ BreakerProvider                  breaker.py (+ health statistics)
                └─ the adapter                 drux.providers

Decisions are made by error type and ``retryable`` only, never by vendor name.
One ``HealthRegistry`` (health.py) is shared by all routes and read by
``drux status``, the web status page and the API.
"""

from __future__ import annotations

from collections.abc import Iterable

from drux.catalog import ModelSpec
from drux.config import AppConfig
from drux.errors import CircuitOpenError, ConfigError
from drux.providers import ProviderFactory, build_provider
from drux.routing.breaker import BreakerPolicy, BreakerProvider, BreakerState, CircuitBreaker
from drux.routing.fallback import Deployment, FallbackProvider
from drux.routing.health import HealthRegistry
from drux.routing.hedge import HedgePolicy
from drux.routing.policy import RoutingPolicy
from drux.routing.probe import HealthProber, ProbePolicy
from drux.routing.retry import RetryingProvider, RetryPolicy

__all__ = [
    "BreakerPolicy", "BreakerProvider", "BreakerState", "CircuitBreaker", "CircuitOpenError",
    "Deployment", "FallbackProvider", "HealthProber", "HealthRegistry", "HedgePolicy",
    "ProbePolicy", "RetryPolicy", "RetryingProvider", "RoutingPolicy", "build_route", "chain_for",
    "deployment_name", "probe_targets",
]

def deployment_name(spec: ModelSpec) -> str:
    return f"{spec.vendor}:{spec.id}"


def chain_for(model_id: str, config: AppConfig, policy: RoutingPolicy) -> list[ModelSpec]:
    """The primary, then its equivalents, then its fallbacks; no repeats, at most max_chain."""
    catalog = config.catalog
    primary = catalog.model(model_id)
    ids = [primary.id]
    if policy.use_equivalents:
        ids += primary.equivalents
    ids += primary.fallbacks
    unique = list(dict.fromkeys(ids))[: max(1, policy.max_chain)]
    return [catalog.model(i) for i in unique]


def build_route(
    model_id: str,
    config: AppConfig,
    registry: HealthRegistry,
    provider_factory: ProviderFactory = build_provider,
    policy: RoutingPolicy | None = None,
) -> FallbackProvider:
    """A provider for ``model_id`` that fails over along its configured chain.

    A fallback that cannot be built (say its API key is not set) is left out and
    noted in the registry; the primary's own configuration error propagates.
    """
    policy = policy or RoutingPolicy()
    deployments: list[Deployment] = []
    for position, spec in enumerate(chain_for(model_id, config, policy)):
        name = deployment_name(spec)
        vendor = config.catalog.vendor(spec.vendor)
        registry.register(name, model=spec.id, vendor=spec.vendor, family=spec.family,
                          paid=vendor.paid)
        try:
            adapter = provider_factory(spec, config)
        except ConfigError as err:
            if position == 0:
                raise
            registry.note_unavailable(name, err)
            continue
        breaker = registry.breaker(name, policy.breaker)
        guarded = BreakerProvider(adapter, breaker, registry=registry, name=name,
                                  idle_timeout=policy.stream_idle_timeout,
                                  attempt_timeout=policy.attempt_timeout)
        retrying = RetryingProvider(guarded, policy.retry)
        deployments.append(Deployment(name=name, model=spec.id, family=spec.family,
                                      provider=retrying, context=spec.context,
                                      vendor=spec.vendor, breaker=breaker, guard=guarded))
    return FallbackProvider(
        model_id, deployments, registry=registry, hedge=policy.hedge, deadline=policy.deadline,
        context_fallback=policy.context_fallback,
        fallback_on_bad_request=policy.fallback_on_bad_request)


def probe_targets(routes: Iterable[FallbackProvider]) -> dict[str, BreakerProvider]:
    """The guarded deployments of some routes, by name, for a ``HealthProber``."""
    return {d.name: d.guard for route in routes for d in route.deployments if d.guard is not None}

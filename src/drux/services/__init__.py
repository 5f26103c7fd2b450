"""The service layer the CLI, the web pages and the HTTP API all call.

``Services`` is built once at start-up from ``Settings`` and owns the config,
the store (opened lazily), the providers (built once per model and reused, so
local weights stay loaded across asks) and the routing health registry.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drux.catalog import ModelSpec
from drux.config import AppConfig, Settings, is_header_safe, load_config
from drux.errors import DruxError, InputError
from drux.providers import ProviderFactory, build_provider
from drux.routing import (
    FallbackProvider,
    HealthProber,
    HealthRegistry,
    ProbePolicy,
    RoutingPolicy,
    build_route,
    probe_targets,
)
from drux.state.breakers import shared_breakers
from drux.types import Provider
from drux.weights import status as weights_status  # drux.services.status is a submodule

if TYPE_CHECKING:
    # Imported when first used (``Services.store``): SQLAlchemy takes about a third of a
    # second to import, and most commands never open the store.
    from drux.store import Store


@dataclass(frozen=True, slots=True)
class ModelRow:
    id: str
    vendor: str
    protocol: str
    family: str
    upstream: str
    context: int
    input_price: float
    output_price: float
    usable: bool
    reason: str
    panels: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


@dataclass(frozen=True, slots=True)
class Resolution:
    panel: str | None
    members: list[ModelSpec]
    skipped: list[dict[str, str]]


class Services:
    def __init__(self, config: AppConfig, *, provider_factory: ProviderFactory | None = None,
                 health: HealthRegistry | None = None) -> None:
        self.config = config
        self._store: Store | None = None
        self._providers: dict[str, Provider] = {}
        self._provider_factory = provider_factory
        self.routing_policy = RoutingPolicy.from_dict(config.routing)
        self.health: HealthRegistry = health if health is not None else HealthRegistry(
            shared=shared_breakers(config.settings.redis_url))

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Services:
        return cls(load_config(settings))

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def store(self) -> Store:
        if self._store is None:
            from drux.store import Store
            from drux.store.db import make_private

            if self.settings.database_url is None:  # the data folder is drux's own
                make_private(self.settings.data_dir)
            self._store = Store(self.settings.db_url)
            # Asks left "running" by a process that died are settled once per process.
            with contextlib.suppress(DruxError):
                self._store.asks.settle_abandoned(default_timeout=self.settings.timeout)
        return self._store

    # -- models ---------------------------------------------------------------------------
    def readiness(self, spec: ModelSpec) -> tuple[bool, str]:
        """Whether a model can be asked now, and if not, what to do about it."""
        vendor = self.config.catalog.vendor(spec.vendor)
        if spec.weights is not None:
            st = weights_status(spec.weights, self.settings.models_dir)
            return st.ready, ("weights verified" if st.ready else f"weights {st.reason}")
        key = self.config.api_key(vendor)
        if vendor.key_required and not key:
            return False, f"set {vendor.key_env}" if vendor.key_env else "no API key configured"
        if key and not is_header_safe(key):
            return False, "API key has spaces, control or non-ASCII characters"
        return True, "key present" if vendor.key_required else "no key needed"

    def model_rows(self) -> list[ModelRow]:
        catalog = self.config.catalog
        rows = []
        for spec in catalog.models.values():
            vendor = catalog.vendor(spec.vendor)
            usable, reason = self.readiness(spec)
            panels = tuple(n for n, members in catalog.panels.items() if spec.id in members)
            rows.append(ModelRow(spec.id, spec.vendor, vendor.protocol, spec.family, spec.upstream,
                                 spec.context, spec.input_price, spec.output_price, usable,
                                 reason, panels))
        return rows

    def resolve(self, models: list[str] | None = None, panel: str | None = None) -> Resolution:
        """Pick the members of an ask: explicit models, else a named panel, else the default.

        Unusable members of a panel are skipped with the reason; explicitly named
        models that are unusable, or a panel with no usable member, are errors.
        """
        catalog = self.config.catalog
        if models:
            ids = list(dict.fromkeys(m.strip() for m in models if m.strip()))
            if not ids:
                raise InputError("--models needs at least one model name")
            panel_name = None
        else:
            # An empty --panel is a mistake, not a request for the default panel.
            panel_name = panel if panel is not None else self.settings.panel
            ids = list(catalog.panel(panel_name))
        members, skipped = [], []
        for model_id in ids:
            spec = catalog.model(model_id)
            ok, reason = self.readiness(spec)
            if ok:
                members.append(spec)
            else:
                skipped.append({"model": model_id, "reason": reason})
        if models and skipped:
            s = skipped[0]
            raise InputError(f"model {s['model']} is not usable: {s['reason']}")
        if not members:
            detail = "; ".join(f"{s['model']}: {s['reason']}" for s in skipped)
            raise InputError(f"no usable model in panel {panel_name!r} ({detail})")
        return Resolution(panel_name, members, skipped)

    def provider(self, model_id: str) -> Provider:
        """The provider for a model, built once and reused."""
        provider = self._providers.get(model_id)
        if provider is None:
            spec = self.config.catalog.model(model_id)
            provider = self._build(spec)
            self._providers[model_id] = provider
        return provider

    def unrouted_provider(self, spec: ModelSpec) -> Provider:
        """The model's own adapter, without routing (a judge must not be substituted)."""
        return (self._provider_factory or build_provider)(spec, self.config)

    def _build(self, spec: ModelSpec) -> Provider:
        """Every model is routed: its adapter wrapped in breaker, retry, fallback and hedge."""
        factory = self._provider_factory or build_provider
        route: Provider = build_route(spec.id, self.config, self.health,
                                      provider_factory=factory, policy=self.routing_policy)
        return route

    def health_prober(self) -> HealthProber | None:
        """A prober over every usable model's deployments, or ``None`` when probes are off."""
        if self.settings.probe_interval <= 0:
            return None
        routes = [self.provider(spec.id) for spec in self.config.catalog.models.values()
                  if self.readiness(spec)[0]]
        policy = ProbePolicy(interval=self.settings.probe_interval,
                             allow_paid=self.settings.probe_paid)
        return HealthProber(self.health, probe_targets(
            r for r in routes if isinstance(r, FallbackProvider)), policy)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except DruxError:
                pass
        self._providers.clear()
        await self.health.shared.aclose()
        if self._store is not None:
            self._store.close()
            self._store = None

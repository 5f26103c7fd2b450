"""The public names the gateway answers to, and one routed Provider per name.

A public name is a catalog model (its route: the model, its equivalents, its
fallbacks) or a group from ``[gateway.groups]`` (its route: the members in order,
then the first member's fallbacks). A group is routed as a model of its own
whose primary deployment is the first member's, named ``vendor:group`` in the
health registry, so it has a breaker of its own; the other members share their
breakers with every other route that uses them.

Routes are built once, on first use, and reused: the breakers, health
statistics and upstream connection pools live as long as the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from drux.catalog import Catalog, ModelSpec
from drux.config import AppConfig
from drux.errors import ConfigError, UnknownModelError
from drux.gateway._http1 import Pools
from drux.gateway.errors import GatewayError
from drux.gateway.settings import GatewaySettings
from drux.gateway.upstream import LeanOpenAIChat
from drux.providers import ProviderFactory, build_provider
from drux.routing import build_route
from drux.routing.fallback import FallbackProvider
from drux.services import Services
from drux.types import Provider


@dataclass(frozen=True, slots=True)
class PublicModel:
    id: str
    kind: str  # "model" or "group"
    owned_by: str
    members: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": 0, "owned_by": self.owned_by,
                "drux": {"kind": self.kind, "members": list(self.members)}}


@dataclass(frozen=True, slots=True)
class Ceiling:
    input_price: float  # USD per million tokens
    output_price: float
    max_output: int  # when the request sets no max_tokens

    def most(self, prompt_tokens: int, max_tokens: int | None) -> tuple[float, int]:
        """The most a call can cost (USD) and use (tokens)."""
        out = max_tokens or self.max_output
        usd = (prompt_tokens * self.input_price + out * self.output_price) / 1e6
        return usd, prompt_tokens + out


def default_adapter_factory(lean_openai: bool, pools: Pools | None = None) -> ProviderFactory:
    """Adapters by wire protocol; OpenAI-protocol vendors through the lean client if asked,
    drawing on ``pools`` (connections per host shared by every route) when given."""
    if not lean_openai:
        return build_provider

    def build(spec: ModelSpec, config: AppConfig) -> Provider:
        vendor = config.catalog.vendor(spec.vendor)
        if vendor.protocol == "openai":
            return LeanOpenAIChat(spec, vendor, config.require_key(vendor),
                                  config.settings.timeout, pools)
        return build_provider(spec, config)

    return build


class ModelDirectory:
    def __init__(self, services: Services, settings: GatewaySettings,
                 adapter_factory: ProviderFactory | None = None) -> None:
        self._services = services
        self._own_routes = adapter_factory is not None or settings.lean_openai
        self._pools: Pools | None = None
        if adapter_factory is None and settings.lean_openai:
            self._pools = Pools()
        self._factory = adapter_factory or default_adapter_factory(settings.lean_openai,
                                                                   self._pools)
        catalog = services.config.catalog
        names = settings.models
        # Catalog models served by default but not usable now (no key for their vendor):
        # a call names what is missing (503) instead of "does not exist" (404).
        self._unusable: dict[str, str] = {}
        if names is None:
            names = []
            for spec in catalog.models.values():
                usable, reason = services.readiness(spec)
                if usable:
                    names.append(spec.id)
                else:
                    self._unusable[spec.id] = reason
        self.public: dict[str, PublicModel] = {}
        for name in names:
            spec = catalog.model(name)  # UnknownModelError: a typo in [gateway] models
            chain = (spec.id, *spec.equivalents, *spec.fallbacks)
            self.public[name] = PublicModel(name, "model", spec.vendor, tuple(dict.fromkeys(chain)))
        self._config = self._with_groups(services.config, settings.groups)
        self._groups = settings.groups
        self._routes: dict[str, Provider] = {}
        self._limited: dict[tuple[str, frozenset[str]], Provider] = {}
        self._ceilings: dict[str, Ceiling] = {}
        self._listing = orjson.dumps({"object": "list",
                                      "data": [p.to_dict() for p in self.public.values()]})

    def _with_groups(self, config: AppConfig, groups: dict[str, list[str]]) -> AppConfig:
        if not groups:
            return config
        models = dict(config.catalog.models)
        for name, members in groups.items():
            if name in models:
                raise ConfigError(f"[gateway.groups] {name!r} is already a model name")
            if not members:
                raise ConfigError(f"[gateway.groups] {name!r} needs at least one model")
            specs = [config.catalog.model(m) for m in members]
            first = specs[0]
            fallbacks = tuple(f for f in first.fallbacks if f not in members)
            models[name] = replace(first, id=name, equivalents=tuple(members[1:]),
                                   fallbacks=fallbacks, description=f"group: {', '.join(members)}")
            self.public[name] = PublicModel(name, "group", "drux",
                                            tuple(dict.fromkeys((*members, *fallbacks))))
        catalog = Catalog(vendors=config.catalog.vendors, models=models,
                          panels=config.catalog.panels)
        return AppConfig(settings=config.settings, catalog=catalog,
                         explicit_keys=config.explicit_keys)

    def listing(self, allowed: tuple[str, ...] = ()) -> bytes:
        if not allowed:
            return self._listing
        data = [p.to_dict() for p in self.public.values() if p.id in allowed]
        return orjson.dumps({"object": "list", "data": data})

    def spec(self, model_id: str) -> ModelSpec | None:
        return self._config.catalog.models.get(model_id)

    def ceiling(self, name: str) -> Ceiling:
        """The highest prices and output length over every model that may answer ``name``
        (a fallback may cost more than the model asked for): what a reservation assumes."""
        found = self._ceilings.get(name)
        if found is None:
            public = self.public.get(name)
            specs = [s for m in (public.members if public else (name,))
                     if (s := self.spec(m)) is not None]
            found = self._ceilings[name] = Ceiling(
                max((s.input_price for s in specs), default=0.0),
                max((s.output_price for s in specs), default=0.0),
                max((s.max_tokens or s.context for s in specs), default=0))
        return found

    def provider(self, name: str, allowed: tuple[str, ...] = ()) -> Provider:
        """The route for ``name``; with ``allowed`` (a key's models), only over deployments
        of those models and of the members of those groups."""
        route = self._routes.get(name) or self._route(name)
        if not allowed or not isinstance(route, FallbackProvider):
            return route
        permitted = frozenset(allowed).union(*(self._groups.get(a, ()) for a in allowed))
        limited = self._limited.get((name, permitted))
        if limited is None:  # shares the full route's deployments: nothing of its own to close
            limited = self._limited[(name, permitted)] = route.only(permitted)
        return limited

    def _route(self, name: str) -> Provider:
        if name in self._unusable:
            raise GatewayError(503, f"model {name!r} is not available: {self._unusable[name]}",
                               type="server_error", code="model_unavailable")
        if name not in self.public:
            raise UnknownModelError(f"the model {name!r} does not exist or is not served by this "
                                    "gateway; GET /v1/models lists the available ones")
        try:
            route = self._build(name)
        except ConfigError as err:  # a missing upstream key: ours to fix, not the caller's
            raise GatewayError(503, f"model {name!r} is not available: {err}",
                               type="server_error", code="model_unavailable") from None
        self._routes[name] = route
        return route

    def _build(self, name: str) -> Provider:
        if not self._own_routes and self.public[name].kind == "model":
            return self._services.provider(name)
        # The [routing] table (breaker, retry, hedge) holds for the gateway's own routes too.
        return build_route(name, self._config, self._services.health,
                           provider_factory=self._factory, policy=self._services.routing_policy)

    async def aclose(self) -> None:
        own = [r for n, r in self._routes.items()
               if self._own_routes or self.public[n].kind == "group"]
        self._routes.clear()
        self._limited.clear()
        for route in own:
            await route.aclose()
        if self._pools is not None:
            self._pools.close()

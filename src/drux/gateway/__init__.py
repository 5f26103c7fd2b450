"""The OpenAI-compatible gateway: ``create_gateway_app(services)`` is an ASGI app.

Modules: ``app`` (ASGI entry, lifecycle, request flow), ``asgi`` (the ASGI
types), ``protocol`` (parse and encode the OpenAI wire), ``streaming`` (JSON and
SSE answers), ``access`` (keys, rate limits, budgets), ``usage`` (each call's
cost and usage row, batched usage writes), ``routes`` (public names and groups
to routed providers), ``errors`` (OpenAI error JSON), ``upstream`` + ``_http1`` +
``_proxy`` (the lean OpenAI-wire client), ``settings`` (``[gateway]`` in drux.toml).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drux.gateway.app import GatewayApp, create_gateway_app
    from drux.gateway.settings import GatewaySettings, load_gateway_settings

__all__ = ["GatewayApp", "GatewaySettings", "create_gateway_app", "load_gateway_settings"]


def __getattr__(name: str) -> object:
    if name in ("GatewayApp", "create_gateway_app"):
        from drux.gateway import app

        return getattr(app, name)
    if name in ("GatewaySettings", "load_gateway_settings"):
        from drux.gateway import settings

        return getattr(settings, name)
    raise AttributeError(name)

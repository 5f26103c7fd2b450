"""The web app: ``create_app(services)`` builds one FastAPI app around the shared services.

Pages (server-rendered Jinja2) and the JSON API call the same services as the
CLI. Nothing is configured at import time; each app owns its runner, its rate
limiter and its templates, kept on ``app.state`` and handed to handlers by
``web/deps.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.types import ASGIApp, Receive, Scope, Send

from drux.gateway import create_gateway_app
from drux.hub import HubService
from drux.services import Services
from drux.services.spend import UserSpend
from drux.state.cluster import heartbeat
from drux.state.limits import rate_limits
from drux.state.reserve import reserver
from drux.state.sessions import web_sessions
from drux.verdicts import tone
from drux.web.auth import SignInRequired, on_sign_in_required, template_context
from drux.web.errors import document_body_errors, install_error_handlers
from drux.web.middleware import (
    BodySizeLimit,
    HeadAsGet,
    HostCheck,
    QuietShutdown,
    SecurityHeaders,
)
from drux.web.ratelimit import WindowLimiter
from drux.web.routes import account, admin, api, pages, threads
from drux.web.runner import AskRunner
from drux.web.settings import WebSettings

HERE = Path(__file__).parent


def _fmt_date(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%d %b %Y")
        except ValueError:
            return value
    return value.strftime("%d %b %Y")


def _fmt_datetime(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%d %b %Y, %H:%M UTC")
    except ValueError:
        return value


@pass_context
def _path_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
    """A root-relative link (pages never depend on the Host header for their own links)."""
    return str(context["request"].url_for(name, **params).path)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"),
                                context_processors=[template_context])
    templates.env.globals["path_for"] = _path_for
    templates.env.filters["date"] = _fmt_date
    templates.env.filters["tone"] = tone  # a score's colour: the verdict bands, in one place
    templates.env.filters["datetime"] = _fmt_datetime
    return templates


def create_app(services: Services, web_settings: WebSettings | None = None, *,
               gateway: Any = None) -> FastAPI:
    """The app for these services. It closes them (and ``gateway``, if given) when it stops."""
    web = web_settings or WebSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(app.state.hub.ensure_loaded)
        if gateway is not None:
            await gateway.startup()
        stop_probes = asyncio.Event()
        prober = services.health_prober()
        probes = asyncio.create_task(prober.run(stop_probes)) if prober is not None else None
        try:
            async with heartbeat(services.settings, kind="web"):  # seen by `drux status`
                yield
        finally:
            stop_probes.set()
            if probes is not None:
                probes.cancel()
                await asyncio.gather(probes, return_exceptions=True)
            await app.state.runner.aclose(grace=2.0)
            if gateway is not None:
                await gateway.shutdown()  # flushes the last usage rows
            await services.aclose()

    app = FastAPI(
        title="drux",
        summary="Ask many AI models at once and see where they agree.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs is our own page: Swagger UI would need a CDN and inline script
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    app.state.web_settings = web
    app.state.runner = AskRunner(services)
    app.state.hub = HubService(services)
    limits = rate_limits(services.settings.redis_url)
    app.state.user_spend = UserSpend(services, limits, reserver(services.settings.redis_url))
    app.state.settling = set()
    app.state.sessions = web_sessions(services.settings.redis_url, services.store.users)
    app.state.ask_limiter = WindowLimiter(limits, "web-asks", per_minute=web.asks_per_minute,
                                          burst=web.ask_burst)
    app.state.login_account_limiter = WindowLimiter(
        limits, "login-account", per_minute=web.login_per_minute, burst=web.login_burst)
    app.state.login_address_limiter = WindowLimiter(
        limits, "login-address", per_minute=web.login_address_per_minute,
        burst=web.login_address_burst)
    app.state.templates = _templates()

    install_error_handlers(app)

    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodySizeLimit, max_bytes=web.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(QuietShutdown)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(threads.router)
    app.include_router(threads.api_router)
    document_body_errors(app)
    return app


class GatewayDispatch:
    """One server for both: OpenAI-compatible paths go straight to the gateway's lean ASGI
    app (no page middleware on its hot path); everything else to the web app."""

    def __init__(self, web: ASGIApp, gateway: ASGIApp) -> None:
        self.web = web
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/health" or path == "/v1" or path.startswith("/v1/"):
                await self.gateway(scope, receive, send)
                return
        await self.web(scope, receive, send)


def create_server_app(services: Services, web_settings: WebSettings | None = None, *,
                      allowed_hosts: list[str] | None = None) -> ASGIApp:
    """What ``drux serve`` runs: the pages, the JSON API and the gateway (/v1, /health),
    answering only to ``allowed_hosts`` when given."""

    gateway = create_gateway_app(services)
    app: ASGIApp = GatewayDispatch(create_app(services, web_settings, gateway=gateway), gateway)
    return app if allowed_hosts is None else HostCheck(app, allowed_hosts)

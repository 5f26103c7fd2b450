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

from drux.services import Services
from drux.web.errors import install_error_handlers
from drux.web.middleware import BodySizeLimit, QuietShutdown, SecurityHeaders
from drux.web.ratelimit import TokenBucketLimiter
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
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["path_for"] = _path_for
    templates.env.filters["date"] = _fmt_date
    templates.env.filters["datetime"] = _fmt_datetime
    return templates


def create_app(services: Services, web_settings: WebSettings | None = None) -> FastAPI:
    """The app for these services. It closes them when it shuts down."""
    web = web_settings or WebSettings()
    from drux.hub import HubService

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(app.state.hub.ensure_loaded)
        try:
            yield
        finally:
            await app.state.runner.aclose(grace=2.0)
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
    app.state.ask_limiter = TokenBucketLimiter(per_minute=web.asks_per_minute, burst=web.ask_burst)
    app.state.templates = _templates()

    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=web.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(QuietShutdown)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from drux.web.routes import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app

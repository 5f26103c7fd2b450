"""What handlers get from the app, as ``Annotated`` dependencies (nothing module-global)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from drux.hub import HubService
from drux.services import Services
from drux.web.ratelimit import WindowLimiter
from drux.web.runner import AskRunner
from drux.web.settings import WebSettings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_runner(request: Request) -> AskRunner:
    runner: AskRunner = request.app.state.runner
    return runner


def get_hub(request: Request) -> HubService:
    hub: HubService = request.app.state.hub
    return hub


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def get_web_settings(request: Request) -> WebSettings:
    web: WebSettings = request.app.state.web_settings
    return web


def client_key(request: Request) -> str:
    # The direct peer, or what a proxy in DRUX_WEB_TRUSTED_PROXIES forwarded (drux serve
    # sets uvicorn's proxy_headers/forwarded_allow_ips; X-Forwarded-For is never read here).
    return request.client.host if request.client else "unknown"


async def limit_asks(request: Request) -> None:
    """Count one ask against the client's window (raises ``RateLimited``)."""
    limiter: WindowLimiter = request.app.state.ask_limiter
    await limiter.take(client_key(request))


def same_origin(request: Request) -> None:
    """Refuse form posts from other sites (each ask spends model time, maybe money)."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    own = f"{request.url.scheme}://{request.url.netloc}"
    # "null" is what a sandboxed frame or a data: page on any site sends; browsers
    # without Sec-Fetch-Site would otherwise let such a cross-site post through.
    opaque = origin == "null" and fetch_site != "same-origin"
    if (origin and origin != "null" and origin != own) or opaque or fetch_site == "cross-site":
        raise HTTPException(403, "Forms on this site can only be sent from this site.")


ServicesDep = Annotated[Services, Depends(get_services)]
RunnerDep = Annotated[AskRunner, Depends(get_runner)]
HubDep = Annotated["HubService", Depends(get_hub)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
WebSettingsDep = Annotated[WebSettings, Depends(get_web_settings)]
AskLimit = Annotated[None, Depends(limit_asks)]
SameOrigin = Annotated[None, Depends(same_origin)]
JSON = dict[str, Any]

"""``drux serve``: the web app (Hub, Ask, results, API) on uvicorn."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from drux.cli import app, fail

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from drux.services import Services


def _check_free(host: str, port: int) -> None:
    """Fail with one line (not uvicorn's log) when the address cannot be used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _refuse_open_without_accounts(host: str, services: Services) -> None:
    """Without accounts anyone who reaches the server reads every ask and spends the
    provider keys: that is only the offline default on loopback."""
    from drux.web.middleware import LOOPBACK_NAMES, host_name

    if host_name(host) in LOOPBACK_NAMES or host.startswith("127."):
        return
    if not services.store.users.exists():
        raise fail(f"{host} is not a loopback address and there are no accounts: create one "
                   "first with drux users create NAME --role admin", 2)


def worker_app() -> ASGIApp:
    """The app of one ``--workers`` process (uvicorn builds it in each): the same settings,
    read again from the environment ``drux serve`` checked and left to its workers."""
    from drux.config import Settings
    from drux.services import Services
    from drux.web.app import create_server_app
    from drux.web.settings import WebSettings

    settings = Settings()
    web = WebSettings()
    services = Services.from_settings(settings)
    return create_server_app(services, web, allowed_hosts=web.hosts_for(settings.host))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default DRUX_HOST, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port to listen on (default DRUX_PORT, else 8000).")] = None,
    log_level: Annotated[str, typer.Option(
        "--log-level", help="uvicorn log level (critical, error, warning, info, debug).")] = "info",
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Web worker processes (more than one needs DRUX_REDIS_URL).")] = 1,
) -> None:
    """Serve the web app, the JSON API (/docs) and the OpenAI-compatible gateway (/v1)."""
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise fail(f"unknown log level {log_level!r}", 2)
    from drux.config import Settings
    from drux.web.settings import WebSettings

    settings = Settings()  # bad DRUX_* values are one line, before anything starts
    web = WebSettings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1 and not settings.redis_url:
        raise fail("--workers above 1 needs DRUX_REDIS_URL: without it each worker keeps its "
                   "live asks to itself, and a page served by another worker loses them", 2)
    _check_free(host, port)
    import uvicorn

    from drux.services import Services
    from drux.web.app import create_server_app

    services = Services.from_settings()
    services.store  # noqa: B018 - open and migrate now: a bad database is one line, not a traceback
    _refuse_open_without_accounts(host, services)
    # Open event streams end with their asks; on Ctrl-C do not wait for long local asks.
    options = {"host": host, "port": port, "log_level": log_level,
               "timeout_graceful_shutdown": 5, **web.uvicorn_proxy_options()}
    typer.echo(f"drux is serving on http://{host}:{port}/ (Ctrl-C to stop)")
    if workers > 1:
        services.store.close()  # checked; each worker opens its own
        os.environ["DRUX_HOST"] = host  # each worker's allowed host names, as checked here
        uvicorn.run("drux.cli.web:worker_app", factory=True, workers=workers, **options)
        return
    web_app = create_server_app(services, web, allowed_hosts=web.hosts_for(host))
    uvicorn.run(web_app, **options)

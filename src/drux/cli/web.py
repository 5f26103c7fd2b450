"""``drux serve``: the web app (Hub, Ask, results, API) on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from drux.cli import app


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the web app and the JSON API (OpenAPI reference at /docs)."""
    import uvicorn

    from drux.services import Services
    from drux.web.app import create_app
    from drux.web.settings import WebSettings

    services = Services.from_settings()
    web_app = create_app(services, WebSettings())
    typer.echo(f"drux is serving on http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        uvicorn.run(web_app, host=host, port=port, log_level=log_level, proxy_headers=False)
    except OSError as exc:  # e.g. the port is taken
        from drux.cli import fail

        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

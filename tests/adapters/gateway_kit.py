"""Helpers for gateway tests: the gateway served by uvicorn on 127.0.0.1 in a
thread, its models pointing at the wire-level fake OpenAI server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from drux.config import Settings, load_config
from drux.gateway import GatewaySettings, create_gateway_app
from drux.gateway.app import GatewayApp
from drux.gateway.serving import ONE_WRITE_HTTP
from drux.services import Services

from fakes import FakeServer
from waiting import PATIENCE_S, wait_until

# Models of the test config: (drux id, upstream model name, extra toml lines).
MODELS = [
    ("m-primary", "up-primary", 'fallbacks = ["m-backup"]'),
    ("m-backup", "up-backup", ""),
    ("m-solo", "up-solo", ""),
    ("m-pricey", "up-pricey", "input_price = 1000000.0\noutput_price = 1000000.0"),
    ("m-hidden", "up-hidden", ""),
]
PUBLIC = ["m-primary", "m-backup", "m-solo", "m-pricey"]
GROUPS = {"g-fast": ["m-solo", "m-backup"]}


def write_config(path: Path, fake: FakeServer, upstream_key: str | None = None,
                 models: list[tuple[str, str, str]] | None = None) -> None:
    lines = ["[providers.fakeai]", f'base_url = "{fake.openai_url}"', "key_required = false",
             "paid = false", f'api_key = "{upstream_key}"' if upstream_key else "", ""]
    for model_id, upstream, extra in models or MODELS:
        lines += [f"[models.{model_id}]", 'provider = "fakeai"', f'model = "{upstream}"', extra, ""]
    path.write_text("\n".join(lines))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    app: GatewayApp
    services: Services
    url: str  # http://127.0.0.1:PORT

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def create_key(self, name: str = "test", **kw: Any) -> str:
        _, secret = self.services.store.keys.create(name, **kw)
        return secret


@contextmanager
def serve(app: Any, http: Any = "httptools") -> Iterator[str]:
    """Run an ASGI app with uvicorn (httptools, or the ``http`` protocol given) in a thread;
    yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", http=http, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="drux-test-gateway", daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "the gateway stopped while starting"
        return bool(server.started)

    wait_until(started, "the gateway did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(PATIENCE_S)


@contextmanager
def running_gateway(fake: FakeServer, env: Path, upstream_key: str | None = None,
                    catalog: list[tuple[str, str, str]] | None = None, http: Any = ONE_WRITE_HTTP,
                    **settings: Any) -> Iterator[Served]:
    """The gateway over the models of ``catalog`` (default ``MODELS``, serving ``PUBLIC``),
    served with uvicorn's ``http`` protocol (default: the one ``drux gateway`` uses)."""
    write_config(env / "project.toml", fake, upstream_key, catalog)
    services = Services(load_config(Settings(timeout=10.0)))
    options: dict[str, Any] = {"models": PUBLIC, "groups": GROUPS, "key_refresh_seconds": 0.2,
                               "usage_flush_seconds": 0.1, **settings}
    app = create_gateway_app(services, GatewaySettings(**options))
    try:
        with serve(app, http=http) as url:
            yield Served(app, services, url)
    finally:
        services.store.close()


"""The gateway mounted inside another ASGI app (as the web app does): paths under
the mount, lazy start without lifespan, shutdown writes the last usage rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import openai
from gateway_kit import PUBLIC, serve, write_config
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from drux.config import Settings, load_config
from drux.gateway import GatewaySettings, create_gateway_app
from drux.services import Services

from fakes import FakeServer


def test_mounted_at_v1_and_health(fake_llm: FakeServer, drux_env: Path) -> None:
    write_config(drux_env / "project.toml", fake_llm)
    services = Services(load_config(Settings(timeout=10.0)))
    gateway = create_gateway_app(services, GatewaySettings(models=PUBLIC, usage_flush_seconds=60))

    async def home(_: object) -> PlainTextResponse:
        return PlainTextResponse("web home")

    host = Starlette(routes=[Route("/", home), Mount("/v1", app=gateway),
                             Route("/health", gateway)])
    with serve(host) as url:
        assert httpx.get(url).text == "web home"
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            answer = client.chat.completions.create(
                model="m-solo", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "fake answer from up-solo"
            assert [m.id for m in client.models.list()][:2] == ["m-primary", "m-backup"]
        assert gateway.usage.pending == 1  # flushes every 60 s: still in memory
    asyncio.run(gateway.shutdown())  # what the host app's lifespan must call
    assert [r["requests"] for r in services.store.keys.usage()] == [1]
    services.store.close()

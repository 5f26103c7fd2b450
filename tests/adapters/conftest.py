"""Fixtures for adapter tests: real vendor SDKs pointed at the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from adapter_kit import MakeProvider, app_config

from drux.catalog import ModelSpec, VendorSpec
from drux.providers import build_provider
from drux.types import Provider

from fakes.fixtures import fake_llm  # noqa: F401 (fixture)
from fakes.server import FakeServer


@pytest.fixture
async def make_provider(fake_llm: FakeServer, drux_env: Any) -> AsyncIterator[MakeProvider]:  # noqa: F811
    """``make_provider(protocol, **model_fields)``: an adapter built by build_provider,
    its vendor pointing at the fake (``base_url=`` to point elsewhere)."""
    made: list[Provider] = []

    def make(protocol: str, *, upstream: str = "fake-model", base_url: str | None = "",
             settings: dict[str, Any] | None = None, **spec_fields: Any) -> Provider:
        url = fake_llm.base_url(protocol) if base_url == "" else base_url
        vendor = VendorSpec(f"fake-{protocol}", protocol, "fake", url)  # type: ignore[arg-type]
        spec = ModelSpec(id=f"drux-{protocol}", vendor=vendor.name, upstream=upstream,
                         family="fake", **spec_fields)
        provider = build_provider(spec, app_config(vendor, spec, **(settings or {})))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()

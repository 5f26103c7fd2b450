"""Helpers for adapter tests: real vendor SDKs pointed at the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from drux.catalog import Catalog, ModelSpec, VendorSpec
from drux.config import AppConfig, Settings
from drux.types import ChatRequest, Chunk, Message, Provider

PROTOCOLS = ("openai", "anthropic", "gemini")
KEY = "sk-test-key"

MakeProvider = Callable[..., Provider]


def app_config(vendor: VendorSpec, spec: ModelSpec, *, key: str | None = KEY,
               **settings: Any) -> AppConfig:
    catalog = Catalog.builtin()
    catalog.vendors[vendor.name] = vendor
    catalog.models[spec.id] = spec
    keys = {vendor.name: key} if key else {}
    return AppConfig(settings=Settings(**{"timeout": 5.0, **settings}), catalog=catalog,
                     explicit_keys=keys)


def ask(text: str = "Hello?", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[Message("user", text)], **kw)


async def drain(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in stream]

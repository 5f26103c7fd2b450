"""Provider adapters, one module per wire protocol.

``build_provider`` picks the adapter from the vendor's ``protocol`` (data in the
catalog), importing the module lazily so ``drux --help`` never loads an SDK.
What the SDK adapters share: ``_boundary`` (mapping what an SDK raises into the
error tree), ``_secrets`` (masking an echoed key), ``_wire`` (the request with
the model's defaults, token counts).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from drux.catalog import ModelSpec
from drux.config import AppConfig
from drux.types import Provider

# What builds a model's provider: ``build_provider``, or a fake in tests.
ProviderFactory = Callable[[ModelSpec, AppConfig], Provider]

# protocol -> "module:factory"; each factory is ``(spec, vendor, config) -> Provider``.
_ADAPTERS = {
    "local": "drux.providers.local:create",
    "openai": "drux.providers.openai:create",
    "anthropic": "drux.providers.anthropic:create",
    "gemini": "drux.providers.gemini:create",
}


def build_provider(spec: ModelSpec, config: AppConfig) -> Provider:
    vendor = config.catalog.vendor(spec.vendor)
    module_name, factory_name = _ADAPTERS[vendor.protocol].split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    provider: Provider = factory(spec, vendor, config)
    return provider

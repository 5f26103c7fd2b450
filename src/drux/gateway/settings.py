"""Gateway settings: a ``[gateway]`` table in drux.toml, overridden by ``DRUX_GATEWAY_*``.

    [gateway]
    models = ["gpt-4.1-mini", "claude-haiku-3.5"]   # public models; default: all usable
    open_loopback = false      # true: loopback clients need no key even when keys exist
    max_body_bytes = 4194304   # larger request bodies get 413
    lean_openai = true         # OpenAI-protocol upstreams through the lean wire client

    [gateway.groups]           # a public name answered by several models, in order
    fast = ["gpt-4.1-mini", "claude-haiku-3.5", "gemini-2.5-flash"]

Access: once any gateway key exists (``drux keys create``) every request needs
``Authorization: Bearer <key>``. With no key at all the gateway is open to
loopback clients only (local development) and refuses the rest, and requests a
browser sends for a web page (they carry ``Origin`` or ``Sec-Fetch-Site``); with
``open_loopback = true`` loopback clients are let in without a key even when
keys exist. Behind a reverse proxy on the same machine every client looks like
loopback, so leave ``open_loopback`` off there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from drux.config import Settings, _read_toml  # one reader: undecodable or too deep files included
from drux.errors import ConfigError


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRUX_GATEWAY_", extra="forbid")

    models: list[str] | None = None
    groups: dict[str, list[str]] = Field(default_factory=dict)
    open_loopback: bool = False
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Keys are cached in memory; revocations and spend from other processes are
    # picked up this often.
    key_refresh_seconds: float = Field(default=2.0, gt=0)
    usage_flush_seconds: float = Field(default=1.0, gt=0)
    lean_openai: bool = True

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides drux.toml (passed in as init values).
        return env_settings, init_settings


def _table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    table = _read_toml(path).get("gateway", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [gateway] must be a table")
    return table


def load_gateway_settings(settings: Settings, **overrides: Any) -> GatewaySettings:
    """``[gateway]`` from the user then the project drux.toml, then the environment."""
    values: dict[str, Any] = {}
    for path in (settings.user_config, settings.project_config):
        table = _table(path)
        groups = {**values.get("groups", {}), **table.get("groups", {})}
        values.update(table)
        if groups:
            values["groups"] = groups
    values.update(overrides)
    try:
        return GatewaySettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ConfigError(f"[gateway] {where}: {first.get('msg')}") from None

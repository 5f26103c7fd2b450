"""Web server limits, from ``DRUX_WEB_*`` variables; built once by ``drux serve`` and passed in."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from drux.services.options import MaxTokens
from drux.web.middleware import LOOPBACK_NAMES, host_name


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRUX_WEB_", extra="ignore")

    # Starting an ask runs every model of a panel: a few a minute per client.
    asks_per_minute: float = Field(default=6.0, gt=0)
    ask_burst: int = Field(default=3, ge=1)
    # Fits the longest valid ask however it is encoded: question and context at their
    # maxima as \u-escaped JSON (12 bytes per astral character) are about 240 kB.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Article text given to the panel as context (small local models have small windows).
    article_context_chars: int = Field(default=3000, ge=200, le=12000)
    # Answer length for asks started from the pages (the API may ask for more).
    max_tokens: MaxTokens | None = None
    page_size: int = Field(default=10, ge=1, le=100)
    # Host names `drux serve` answers to besides the loopback names (JSON list, e.g.
    # '["drux.example.org"]'; "*" for any). Unset: only the loopback names when it listens
    # on loopback, so a web page whose name is re-pointed at 127.0.0.1 (DNS rebinding)
    # cannot read the asks; any name when it listens elsewhere.
    allowed_hosts: list[str] | None = None
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (JSON list of
    # IPs or networks, e.g. '["10.0.0.5"]'). Default none: uvicorn on its own believes them
    # from 127.0.0.1, so any local client could name itself anew on each request and get
    # a fresh rate-limit bucket (and the gateway's loopback check saw the forged address).
    trusted_proxies: list[str] = Field(default_factory=list)
    # Once accounts exist, whether visitors who are not signed in may read the Hub and the
    # asks their owners shared (read only: asking still needs an account).
    public_hub: bool = False
    # Sign-in attempts: per account name, and (more) per client address (moving windows).
    login_per_minute: float = Field(default=5.0, gt=0)
    login_burst: int = Field(default=5, ge=1)
    login_address_per_minute: float = Field(default=20.0, gt=0)
    login_address_burst: int = Field(default=20, ge=1)

    def hosts_for(self, listen_host: str) -> list[str] | None:
        """The names to allow for a server listening on ``listen_host`` (None: any)."""

        if self.allowed_hosts is not None:  # loopback names stay: no rebinding uses them
            return None if "*" in self.allowed_hosts else [*self.allowed_hosts, *LOOPBACK_NAMES]
        if host_name(listen_host) in LOOPBACK_NAMES or listen_host.startswith("127."):
            return [*LOOPBACK_NAMES, listen_host]
        return None

    def uvicorn_proxy_options(self) -> dict[str, Any]:
        """uvicorn options making ``request.client`` the peer, or the address a trusted proxy
        forwarded: every place that reads the client address reads it from there."""
        if not self.trusted_proxies:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": list(self.trusted_proxies)}

"""Background health probes are off by default, skip paid vendors unless allowed, and
feed the same breakers and statistics as real calls."""

from __future__ import annotations

from pathlib import Path

from drux.config import Settings, load_config
from drux.errors import ServerError
from drux.services import Services

from scripted import Raise, Reply, ScriptedProvider, factory

TOML = """
[providers.paidvendor]
base_url = "http://127.0.0.1:9/v1"
api_key_env = "PAIDVENDOR_KEY"
[models.freebie]
provider = "ollama"
[models.paidone]
provider = "paidvendor"
"""


def _services(drux_env: Path, monkeypatch, **settings: object) -> tuple[Services, dict]:  # type: ignore[no-untyped-def,type-arg]
    (drux_env / "project.toml").write_text(TOML)
    monkeypatch.setenv("PAIDVENDOR_KEY", "k")
    providers = {"freebie": ScriptedProvider("freebie", [Raise(ServerError("down"))]),
                 "paidone": ScriptedProvider("paidone", [Reply("ok")])}
    # An empty model cache: the built-in local models are not ready, so not probed here.
    config = load_config(Settings(cache_dir=drux_env / "cache", **settings))  # type: ignore[arg-type]
    return Services(config, provider_factory=factory(providers)), providers


def test_probes_are_off_by_default(drux_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services, _ = _services(drux_env, monkeypatch)
    assert services.health_prober() is None


async def test_probes_skip_paid_vendors_and_record_failures(drux_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services, providers = _services(drux_env, monkeypatch, probe_interval=30)
    prober = services.health_prober()
    results = await prober.tick()
    assert results == {"ollama:freebie": False}
    assert providers["paidone"].calls == 0
    entry = {e["deployment"]: e for e in services.health.snapshot()}["ollama:freebie"]
    assert entry["failures"] >= 1
    assert entry["last_error"]["type"] == "server_error"
    assert await prober.tick() == {}  # at most one probe per interval


async def test_paid_probes_when_allowed(drux_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services, providers = _services(drux_env, monkeypatch, probe_interval=30, probe_paid=True)
    results = await services.health_prober().tick()
    assert results["paidvendor:paidone"] is True
    assert providers["paidone"].calls == 1

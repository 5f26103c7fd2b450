"""The README's drux.toml example is real configuration: it must load."""

from __future__ import annotations

from pathlib import Path

from drux.config import Settings, load_config
from drux.gateway.settings import load_gateway_settings
from drux.services import Services

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_example_loads(tmp_path: Path) -> None:
    block = README.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "drux.toml").write_text(block)
    settings = Settings(user_config=tmp_path / "none.toml", project_config=tmp_path / "drux.toml",
                        data_dir=tmp_path / "data")
    config = load_config(settings)
    assert config.catalog.model("my-llama").vendor == "mylab"
    assert "mine" in config.catalog.panels
    services = Services(config)
    assert services.routing_policy.deadline == 60
    assert load_gateway_settings(settings).groups["fast"] == ["my-llama", "gpt-4.1-mini"]


def test_readme_quick_start_is_the_two_make_commands() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in quick.split("```sh", 1)[1].split("```")[0].splitlines()
                if ln.strip()]
    assert commands == ["make demo", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_drux_variable_the_readme_names_is_a_setting() -> None:
    import re

    from drux.gateway.settings import GatewaySettings
    from drux.web.settings import WebSettings

    known = {f"DRUX_{name.upper()}" for name in Settings.model_fields}
    known |= {f"DRUX_WEB_{name.upper()}" for name in WebSettings.model_fields}
    known |= {f"DRUX_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    named = set(re.findall(r"\bDRUX_[A-Z_]*[A-Z]\b", README.read_text()))
    named -= {"DRUX_WEB", "DRUX_GATEWAY"}  # the prefixes, written as DRUX_WEB_*
    assert named and named <= known, sorted(named - known)
    web_fields = re.search(r"`DRUX_WEB_\*` \(`src/drux/web/settings.py`: (.*?)\)",
                           README.read_text(), re.S)
    assert web_fields is not None
    listed = set(re.findall(r"`([A-Z_]+)`", web_fields.group(1)))
    assert listed == {name.upper() for name in WebSettings.model_fields}


def test_readme_states_the_verdict_bands_of_the_code() -> None:
    from drux.verdicts import BANDS, NO_CONSENSUS_BELOW

    text = README.read_text()
    section = text.split("## Reading the Consensus Score", 1)[1].split("\n## ", 1)[0]
    tops = [100, *(int(floor) - 1 for floor, _ in BANDS[:-1])]
    for (floor, name), top in zip(BANDS, tops, strict=True):
        assert f"| {int(floor)}–{top} | {name} |" in section
    assert f"Below {int(NO_CONSENSUS_BELOW)} (the no-consensus threshold)" in section
    assert "never whether they are right" in section

"""``[gateway]`` in drux.toml and ``DRUX_GATEWAY_*``: read, merged, validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from drux.config import Settings
from drux.errors import ConfigError
from drux.gateway.settings import load_gateway_settings


def settings_with(tmp_path: Path, user: str, project: str) -> Settings:
    (tmp_path / "user.toml").write_text(user)
    (tmp_path / "project.toml").write_text(project)
    return Settings(user_config=tmp_path / "user.toml", project_config=tmp_path / "project.toml")


def test_project_overrides_user_and_groups_merge(tmp_path: Path) -> None:
    s = settings_with(tmp_path,
                      '[gateway]\nopen_loopback = true\n[gateway.groups]\na = ["x"]\n',
                      '[gateway]\nmax_body_bytes = 2048\n[gateway.groups]\nb = ["y", "z"]\n')
    gw = load_gateway_settings(s)
    assert gw.open_loopback is True and gw.max_body_bytes == 2048
    assert gw.groups == {"a": ["x"], "b": ["y", "z"]}
    assert gw.models is None and gw.lean_openai is True


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_GATEWAY_LEAN_OPENAI", "false")
    s = settings_with(tmp_path, "", "[gateway]\nlean_openai = true\n")
    assert load_gateway_settings(s).lean_openai is False


@pytest.mark.parametrize("project", ['[gateway]\nmax_bodybytes = 5\n',
                                     '[gateway]\nmax_body_bytes = 10\n',
                                     'gateway = 3\n',
                                     '[gateway\n'])
def test_mistakes_are_config_errors(tmp_path: Path, project: str) -> None:
    with pytest.raises(ConfigError):
        load_gateway_settings(settings_with(tmp_path, "", project))

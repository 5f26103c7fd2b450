"""``drux ask --rounds N --synthesize``: each round's score as it ends, the trend, the
synthesis labelled; ``--json`` and ``drux show`` carry them; bad values are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drux.cli import app
from drux.config import load_config
from drux.services import Services

from scripted import Reply, ScriptedProvider, factory

THREE = ('[models.alpha]\nprovider = "ollama"\nfamily = "fa"\n'
         '[models.beta]\nprovider = "ollama"\nfamily = "fb"\n'
         '[models.chair]\nprovider = "ollama"\nfamily = "fc"\n')


@pytest.fixture
def providers(drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ScriptedProvider]:
    (drux_env / "project.toml").write_text(THREE)
    made = {
        "alpha": ScriptedProvider("alpha", [Reply("The capital of France is Paris."),
                                            Reply("The capital of France is Paris.\nWhy: the others agree.")]),
        "beta": ScriptedProvider("beta", [Reply("The capital of France is Lyon."),
                                          Reply("The capital of France is Paris.\nWhy: Model A convinced me.")]),
        "chair": ScriptedProvider("chair", [Reply("Paris [alpha, beta].")]),
    }
    monkeypatch.setattr(Services, "from_settings", classmethod(
        lambda cls, settings=None: cls(load_config(settings), provider_factory=factory(made))))
    return made


ARGS = ["ask", "Capital of France?", "--models", "alpha,beta", "--rounds", "2",
        "--synthesizer", "chair"]


def test_live_rounds_trend_and_synthesis(providers: dict[str, ScriptedProvider]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "round 1:" in out and "round 2:" in out and "changed: beta" in out
    assert "Score trend: round 1: " in out and " → round 2: " in out
    assert "beta: why: Model A convinced me." in out
    assert "synthesized by chair" in out and "Paris [alpha, beta]." in out
    (row,) = json.loads(runner.invoke(app, ["history", "--json"]).stdout)
    shown = runner.invoke(app, ["show", row["id"]]).stdout
    assert "Score trend: round 1: " in shown and "synthesized by chair" in shown


def test_json_carries_rounds_and_synthesis(providers: dict[str, ScriptedProvider]) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    assert record["rounds"][1]["changed"] == ["beta"]
    assert record["rounds"][0]["consensus"]["score"] == record["rounds"][0]["score"]
    assert record["synthesis"] == {"model": "chair", "text": "Paris [alpha, beta].",
                                   "side_by_side": False, "error": None}


REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           '[models.m]\nprovider = "nowhere"\n[panels]\ndefault = ["m"]\n')


@pytest.mark.parametrize(("args", "message"), [
    (["--rounds", "5"], "--rounds must be between 1 and 4"),
    (["--rounds", "0"], "--rounds must be between 1 and 4"),
    (["--synthesizer", "nope"], "unknown model 'nope'"),
])
def test_bad_values_are_one_line(drux_env: Path, args: list[str], message: str) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    proc = subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", "ask", "hi",
                           *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr

"""``drux ask -c`` continues the last CLI ask's thread, ``--cid`` another one; an unknown id
(or ``-c`` with nothing to continue) is a one-line error, exit 2; ``drux history`` and
``drux thread`` show the threads."""

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
from drux.records import AskSource
from drux.services import Services
from drux.services.options import AskOptions

from scripted import Reply, ScriptedProvider, factory

TWO = ('[models.alpha]\nprovider = "ollama"\nfamily = "fa"\n'
       '[models.beta]\nprovider = "ollama"\nfamily = "fb"\n')
REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           '[models.m]\nprovider = "nowhere"\n[panels]\ndefault = ["m"]\n')


@pytest.fixture
def providers(drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ScriptedProvider]:
    (drux_env / "project.toml").write_text(TWO)
    made = {m: ScriptedProvider(m, [Reply(f"{m} one."), Reply(f"{m} two."), Reply(f"{m} three.")])
            for m in ("alpha", "beta")}
    monkeypatch.setattr(Services, "from_settings", classmethod(
        lambda cls, settings=None: cls(load_config(settings), provider_factory=factory(made))))
    return made


def _json(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["ask", *args, "--json"])
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.stdout)
    return record


def _users(provider: ScriptedProvider) -> list[str]:
    return [m.content for m in provider.requests[-1].messages if m.role != "system"]


def test_c_continues_the_last_cli_ask(providers: dict[str, ScriptedProvider]) -> None:
    first = _json("Capital of France?", "--models", "alpha,beta")
    second = _json("-c", "How many live there?")
    assert second["thread"] == {"id": first["id"], "turn": 2, "trimmed": {}}
    assert second["models"] == ["alpha", "beta"]
    assert _users(providers["beta"]) == ["Capital of France?", "beta one.", "How many live there?"]
    third = _json("How old is it?", "-c")
    assert third["thread"] == {"id": first["id"], "turn": 3, "trimmed": {}}


def test_c_skips_asks_not_made_from_the_cli(providers: dict[str, ScriptedProvider]) -> None:
    # -c continues the last ask made *from the CLI*: a newer web ask is not picked up.
    first = _json("Capital of France?", "--models", "alpha")
    services = Services.from_settings()
    services.store.asks.create(question="a web ask", models=["beta"], families={},
                               source=AskSource.WEB, owner_id=None)
    assert _json("-c", "And Spain?")["thread"] == {"id": first["id"], "turn": 2, "trimmed": {}}


def test_cid_continues_another_thread(providers: dict[str, ScriptedProvider]) -> None:
    first = _json("Capital of France?", "--models", "alpha")
    _json("Capital of Spain?", "--models", "beta")
    second = _json("--cid", str(first["id"])[:6], "Population?")
    assert second["thread"] == {"id": first["id"], "turn": 2, "trimmed": {}}
    assert second["models"] == ["alpha"]
    assert _users(providers["alpha"]) == ["Capital of France?", "alpha one.", "Population?"]


def test_live_output_names_the_turn(providers: dict[str, ScriptedProvider]) -> None:
    first = _json("Capital of France?", "--models", "alpha")
    result = CliRunner().invoke(app, ["ask", "-c", "Population?"])
    assert result.exit_code == 0, result.output
    assert f"follow-up: turn 2 of thread {first['id']}" in result.output


def test_history_and_thread_show_the_turns(providers: dict[str, ScriptedProvider]) -> None:
    first = _json("Capital of France?", "--models", "alpha")
    second = _json("-c", "Population?")
    rows = json.loads(CliRunner().invoke(app, ["history", "--json"]).stdout)
    assert {r["id"]: r["thread"]["turn"] for r in rows} == {first["id"]: 1, second["id"]: 2}
    shown = CliRunner().invoke(app, ["thread", str(second["id"]), "--json"])
    assert shown.exit_code == 0, shown.output
    thread = json.loads(shown.stdout)
    assert thread["id"] == first["id"]
    assert [t["question"] for t in thread["turns"]] == ["Capital of France?", "Population?"]
    text = CliRunner().invoke(app, ["thread", str(first["id"])]).stdout
    assert "turn 1 ·" in text and "turn 2 ·" in text and "Q: Population?" in text


def test_a_single_ask_is_a_thread_of_one(providers: dict[str, ScriptedProvider]) -> None:
    services = Services.from_settings()
    first = _json("Capital of France?", "--models", "alpha")
    assert first["thread"] is None
    thread = services.store.threads.get(str(first["id"]))
    assert thread is not None and [t.id for t in thread.turns] == [first["id"]]
    assert AskOptions("x", continue_from=" abc ").continue_from == "abc"


def _drux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0]


def test_unknown_ids_and_nothing_to_continue_are_one_line_errors(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    _one_line_error(_drux("ask", "--cid", "no-such-ask", "Why?"),
                    "no ask or thread with id 'no-such-ask'")
    _one_line_error(_drux("ask", "-c", "Why?"), "-c continues the last ask made from the CLI")
    _one_line_error(_drux("thread", "no-such-ask"), "no ask or thread with id 'no-such-ask'")


def test_history_has_a_thread_column_on_a_terminal_and_six_fields_in_a_pipe(
        drux_env: Path) -> None:
    from test_cli_tables import _on_a_terminal, _piped

    from drux.records import ThreadPosition

    (drux_env / "project.toml").write_text(REFUSED)
    services = Services.from_settings()
    root = services.store.asks.create(question="Capital of France?", models=["m"], families={})
    services.store.asks.create(question="Population?", models=["m"], families={},
                               thread=ThreadPosition(id=root, turn=2))
    services.store.asks.create(question="A single ask", models=["m"], families={})
    services.store.close()
    shown = _on_a_terminal("history")
    # "2 of <thread id prefix>" (it may wrap between its words): the id once, and two turns.
    assert "thread" in shown and "1 of" in shown and "2 of" in shown, shown
    assert shown.count(root[:8]) == 3, shown
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    lines = _piped("history").splitlines()
    assert len(lines) == 3 and all(line.count("\t") == 5 for line in lines), lines

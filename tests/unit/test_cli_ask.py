"""``drux ask``: ``-`` reads the question from stdin, text piped in with a question is its
context, ``--system`` sets one ask's system prompt, a terminal stdin is never read; and
``drux show`` prints what ``drux ask`` printed."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drux.cli import app
from drux.config import load_config
from drux.services import Services

from scripted import Reply, ScriptedProvider, factory

TWO = ('[models.alpha]\nprovider = "ollama"\nfamily = "fa"\n'
       '[models.beta]\nprovider = "ollama"\nfamily = "fb"\n')
# A model refused at once (nothing listens on port 1): cheap to run in a real process.
REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           '[models.m]\nprovider = "nowhere"\n[panels]\ndefault = ["m"]\n')


@pytest.fixture
def providers(drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ScriptedProvider]:
    (drux_env / "project.toml").write_text(TWO)
    made = {m: ScriptedProvider(m, [Reply("Four.")]) for m in ("alpha", "beta")}
    monkeypatch.setattr(Services, "from_settings", classmethod(
        lambda cls, settings=None: cls(load_config(settings), provider_factory=factory(made))))
    return made


def _ask(*args: str, stdin: str | None = None) -> dict[str, object]:
    result = CliRunner().invoke(app, ["ask", *args, "--models", "alpha,beta", "--json"],
                                input=stdin)
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.stdout)
    return record


def test_dash_reads_the_question_from_stdin(providers: dict[str, ScriptedProvider]) -> None:
    # `drux ask -` asked the models the literal question "-".
    record = _ask("-", stdin="What is 2+2?\n")
    assert record["question"] == "What is 2+2?" and record["context"] is None
    assert providers["alpha"].requests[-1].messages[-1].content == "What is 2+2?"


def test_text_piped_with_a_question_is_its_context(
        providers: dict[str, ScriptedProvider]) -> None:
    record = _ask("Summarise this", stdin="Meeting notes: ship on Friday.\n")
    assert record["question"] == "Summarise this"
    assert record["context"] == "Meeting notes: ship on Friday.\n"
    sent = providers["beta"].requests[-1].messages[-1].content
    assert "Meeting notes: ship on Friday." in sent and sent.endswith("Summarise this")


def test_a_question_piped_in_alone_is_the_question(
        providers: dict[str, ScriptedProvider]) -> None:
    record = _ask(stdin="Who wrote Dracula?")
    assert record["question"] == "Who wrote Dracula?" and record["context"] is None


def test_system_sets_this_asks_system_prompt(providers: dict[str, ScriptedProvider]) -> None:
    record = _ask("hi", "--system", "Answer in French.")
    assert {p.requests[-1].system for p in providers.values()} == {"Answer in French."}
    assert record["params"]["system"] == "Answer in French."  # type: ignore[index]


def _drux(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          **kwargs)  # type: ignore[call-overload]


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert needle in proc.stderr


def test_bad_stdin_is_a_one_line_error(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    _one_line_error(_drux("ask", "-", input=""), "read nothing from stdin")
    _one_line_error(_drux("ask", "-", input=" \n"), "read nothing from stdin")
    _one_line_error(_drux("ask", "-", stdin=subprocess.DEVNULL), "stdin is neither")
    _one_line_error(_drux("ask", stdin=subprocess.DEVNULL), "Missing argument 'QUESTION'")
    _one_line_error(_drux("ask", "Summarise", input="x" * 12001),
                    "the text piped in has 12001 characters; the limit is 12000")
    _one_line_error(_drux("ask", "Summarise", input="é" * 20000),  # over the bytes read
                    "the text piped in has")
    _one_line_error(_drux("ask", "-", input="q" * 8001), "the question has 8001 characters")
    bad = subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", "ask", "S"],
                         input=b"caf\xe9", capture_output=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stderr == b"error: the text piped in is not valid UTF-8\n"
    _one_line_error(_drux("ask", "hi", "--system", " ", input=""), "--system is empty")
    assert _drux("history", "--json").stdout.strip() == "[]"  # nothing was asked


def test_a_terminal_stdin_is_never_read(drux_env: Path) -> None:
    # Reading a terminal would wait for typing: these would hang until the timeout.
    (drux_env / "project.toml").write_text(REFUSED)
    main, tty = pty.openpty()
    try:
        _one_line_error(_drux("ask", "-", stdin=tty), "stdin is neither")
        asked = _drux("ask", "hi", "--json", stdin=tty)
        assert asked.returncode == 1, asked.stderr  # the one model is refused: no answer
        record = json.loads(asked.stdout)
        assert record["question"] == "hi" and record["context"] is None
    finally:
        os.close(main)
        os.close(tty)


def test_show_prints_what_ask_printed(providers: dict[str, ScriptedProvider]) -> None:
    # `drux show` left out the explanation line under the score.
    runner = CliRunner()
    asked = runner.invoke(app, ["ask", "What is 2+2?", "--models", "alpha,beta"])
    assert asked.exit_code == 0, asked.output
    (row,) = json.loads(runner.invoke(app, ["history", "--json"]).stdout)
    shown = runner.invoke(app, ["show", row["id"]])
    assert shown.exit_code == 0, shown.output
    assert "Consensus Score:" in shown.stdout
    assert shown.stdout == asked.stdout

"""Lists of records at 80 columns and through a pipe: ``drux models``, ``history``,
``status``, ``hub list``, ``keys list`` and ``provider-keys list``.

On a terminal every line fits the width and every id is whole on one line (Rich shrank
every column evenly: "re…", "202…", ids over two lines); through a pipe each record is one
tab-separated line."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from drux.cli.tables import Col, fit_table

from waiting import PATIENCE_S

LONG = "a-model-id-long-enough-to-crowd-every-other-column-out"
# Models refused at once (nothing listens on port 1): an ask fills history and status fast.
REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           f'[models.m]\nprovider = "nowhere"\n[models.{LONG}]\nprovider = "nowhere"\n'
           f'[panels]\ndefault = ["m", "{LONG}"]\n'
           '[providers.a-vendor-with-a-long-name]\nbase_url = "http://127.0.0.1:1/v1"\n')
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COMMANDS = (["models"], ["history"], ["status"], ["hub", "list"], ["keys", "list"],
            ["provider-keys", "list"])


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from drux.cli import main; main()", *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", **extra}


def _on_a_terminal(*args: str) -> str:
    """What the command shows on an 80-column terminal (a pty), escapes removed."""
    main, tty = pty.openpty()
    proc = subprocess.Popen(_cmd(*args), stdout=tty, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=_env())
    os.close(tty)
    out, deadline = b"", time.monotonic() + PATIENCE_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
    assert proc.wait(timeout=PATIENCE_S) == 0, proc.stderr.read() if proc.stderr else ""
    return ANSI.sub("", out.decode()).replace("\r\n", "\n")


def _piped(*args: str) -> str:
    proc = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=PATIENCE_S,
                          check=False, stdin=subprocess.DEVNULL, env=_env())
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


@pytest.fixture
def filled(drux_env: Path) -> dict[str, list[str]]:
    """A database with two asks, the health of their deployments and a key; the ids each
    list must show whole."""
    (drux_env / "project.toml").write_text(REFUSED)
    for question in ("Why is the sky blue? " * 6, "hi"):
        subprocess.run(_cmd("ask", question), capture_output=True, timeout=PATIENCE_S,
                       check=False, stdin=subprocess.DEVNULL, env=_env())
    key = subprocess.run(_cmd("keys", "create", "a team with a rather long name " * 2,
                              "--models", f"m,{LONG}"),
                         capture_output=True, timeout=PATIENCE_S, check=False, env=_env())
    assert key.returncode == 0, key.stderr
    asks = json.loads(_piped("history", "--json"))
    assert len(asks) == 2
    articles = json.loads(_piped("hub", "list", "--json"))["articles"]
    return {"models": [LONG, "openrouter-claude-sonnet-4"], "history": [a["id"] for a in asks],
            "status": [f"nowhere:{LONG}"], "hub": [a["id"] for a in articles],
            "keys": ["drux-"], "provider-keys": ["a-vendor-with-a-long-name"]}


def test_every_list_fits_80_columns_and_shows_ids_whole(filled: dict[str, list[str]]) -> None:
    for args in COMMANDS:
        shown = _on_a_terminal(*args)
        lines = shown.splitlines()
        assert lines and max(len(line) for line in lines) <= 80, (args, shown)
        for wanted in filled[args[0]]:
            assert any(wanted in line for line in lines), (args, wanted, shown)
        # Only the key prefix ends in "…" (the rest of the secret is never shown).
        assert shown.count("…") == (1 if args == ["keys", "list"] else 0), (args, shown)


def test_piped_lists_are_one_record_per_line(filled: dict[str, list[str]]) -> None:
    for args, fields in ((["models"], 6), (["history"], 6), (["status"], 9),
                         (["hub", "list"], 5), (["keys", "list"], 9)):
        lines = _piped(*args).splitlines()
        assert lines, args
        assert all(line.count("\t") == fields - 1 for line in lines), (args, lines)
        firsts = [line.split("\t")[0] for line in lines]
        for wanted in filled[args[0]]:
            assert any(first.startswith(wanted) for first in firsts) or args == ["keys", "list"]
    history = [line.split("\t") for line in _piped("history").splitlines()]
    assert sorted(row[0] for row in history) == sorted(filled["history"])
    assert ("Why is the sky blue? " * 6).strip() in [row[5] for row in history]  # whole
    assert "drux history" not in _piped("history")  # no title, no borders
    keys = _piped("provider-keys", "list").splitlines()
    assert "a-vendor-with-a-long-name missing" in keys
    assert "openai                    missing (set OPENAI_API_KEY)" in keys  # aligned


def test_provider_keys_list_as_json(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    rows = json.loads(_piped("provider-keys", "list", "--json"))
    assert {"vendor": "openai", "source": "missing", "key_env": "OPENAI_API_KEY"} in rows


def _render(table: object, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False).print(table)
    return out.getvalue()


def test_columns_are_left_out_least_useful_first() -> None:
    cols = [Col("id"), Col("note", "text"), Col("extra", drop=2), Col("spare", drop=1)]
    rows = [[LONG, "some words to wrap " * 3, "x" * 10, "y" * 10]]
    wide = _render(fit_table(200, cols, rows), 200)
    assert "spare" in wide and "extra" in wide and len(wide.splitlines()) == 5
    narrow = _render(fit_table(100, cols, rows), 100)
    assert "spare" not in narrow and "extra" in narrow and LONG in narrow
    tight = _render(fit_table(80, cols, rows), 80)
    assert "extra" not in tight and LONG in tight and "note" in tight
    assert max(len(line) for line in tight.splitlines()) <= 80

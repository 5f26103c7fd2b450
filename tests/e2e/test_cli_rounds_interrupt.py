"""Ctrl-C in round 2 of `drux ask --rounds 2` keeps round 1: the real command, a wire-level
fake vendor through the real openai SDK, SIGINT as a terminal sends it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from waiting import wait_until

DRUX = [str(Path(sys.executable).with_name("drux"))]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e.update(DRUX_DATA_DIR=str(tmp_path / "data"), DRUX_USER_CONFIG=str(tmp_path / "u.toml"),
             DRUX_PROJECT_CONFIG=str(tmp_path / "p.toml"), DRUX_KEYS_FILE=str(tmp_path / "k.json"),
             COLUMNS="120")
    return e


def _drux(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRUX, *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("mode", [["--json"], []], ids=["json", "live"])
def test_ctrl_c_in_round_two_keeps_round_one(env: dict[str, str], tmp_path: Path,
                                             mode: list[str]) -> None:
    from fakes import FakeServer, Reply

    with FakeServer() as server:
        server.script("fast", Reply(text="The capital is Paris."),
                      Reply(text="The capital is Paris.\nWhy: the others agree."))
        server.script("slow", Reply(text="The capital is Lyon."),
                      Reply(text=" ".join(f"word{i}" for i in range(600)), chunk_delay=0.05))
        (tmp_path / "p.toml").write_text(
            f'[providers.fakevendor]\nbase_url = "{server.openai_url}"\nkey_required = false\n'
            '[models.fast]\nprovider = "fakevendor"\nfamily = "f1"\n'
            '[models.slow]\nprovider = "fakevendor"\nfamily = "f2"\n')
        proc = subprocess.Popen([*DRUX, "ask", "Capital of France?", "--models", "fast,slow",
                                 "--rounds", "2", *mode], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        db = Path(env["DRUX_DATA_DIR"]) / "drux.db"

        def round_two_streaming() -> bool:
            """Round 1 is stored and round 2's slow answer is flowing."""
            assert proc.poll() is None, "the ask ended before it was interrupted"
            if not db.exists():
                return False
            try:
                with sqlite3.connect(db) as conn:
                    rounds = conn.execute("select count(*) from ask_rounds").fetchone()[0]
                    row = conn.execute("select status, text from answers where model = 'slow'"
                                       ).fetchone()
            except sqlite3.Error:  # not migrated yet, or busy
                return False
            return bool(rounds == 1 and row and row[0] == "streaming" and "word" in row[1])

        wait_until(round_two_streaming, "round 2 never started streaming", interval=0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (listed,) = json.loads(_drux(["history", "--json"], env).stdout)
    record = json.loads(_drux(["show", listed["id"], "--json"], env).stdout)
    assert record["status"] == "partial"
    assert [(r["round"], r["status"]) for r in record["rounds"]] == [(1, "complete"), (2, "partial")]
    first = record["rounds"][0]
    assert first["score"] is not None and record["score"] == first["score"]
    texts = {a["model"]: a["text"] for a in record["answers"]}
    assert texts == {"fast": "The capital is Paris.", "slow": "The capital is Lyon."}
    cut = {a["model"]: a for a in record["rounds"][1]["answers"]}
    assert cut["slow"]["status"] == "partial" and cut["slow"]["text"].startswith("word0")


@pytest.mark.e2e
def test_two_rounds_and_a_synthesis_with_real_models(env: dict[str, str]) -> None:
    proc = _drux(["ask", "What is the capital of France?", "--models",
                  "smollm2-135m,gemma3-270m", "--rounds", "2", "--synthesize",
                  "--max-tokens", "24", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    assert all(r["consensus"]["score"] is not None for r in record["rounds"])
    assert record["score"] == record["rounds"][1]["score"]
    # The chairman (qwen2.5-1.5b) when installed, else the larger panel member.
    assert record["synthesis"]["model"] in {"qwen2.5-1.5b", "gemma3-270m"}
    assert record["synthesis"]["text"] and record["synthesis"]["error"] is None

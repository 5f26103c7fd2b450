"""The real `drux` command: real SmolLM2 through `drux ask --json`, the stored record,
and one-line errors (no traceback) for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from waiting import wait_until

DRUX = [str(Path(sys.executable).with_name("drux"))]


def run(args: list[str], env: dict[str, str], timeout: float = 300,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command with ``stdin`` piped in (none: stdin is /dev/null, so nothing is read)."""
    return subprocess.run([*DRUX, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          check=False, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e.update(DRUX_DATA_DIR=str(tmp_path / "data"), DRUX_USER_CONFIG=str(tmp_path / "u.toml"),
             DRUX_PROJECT_CONFIG=str(tmp_path / "p.toml"), DRUX_KEYS_FILE=str(tmp_path / "k.json"),
             COLUMNS="120")
    return e


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.e2e
def test_ask_json_with_real_smollm2_is_stored(env: dict[str, str]) -> None:
    proc = run(["ask", "What is the capital of France?", "--models", "smollm2-135m",
                "--json", "--max-tokens", "24"], env)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "complete"
    assert record["models"] == ["smollm2-135m"]
    (answer,) = record["answers"]
    assert answer["status"] == "done"
    assert answer["text"].strip()
    assert 0 < answer["usage"]["output_tokens"] <= 24
    assert answer["timings"]["first_token_s"] > 0
    assert answer["timings"]["tokens_per_s"] > 0
    assert record["consensus"]["score"] is None  # one answer: n/a, with the reason
    assert record["consensus"]["reason"]

    shown = run(["show", record["id"], "--json"], env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == record
    listed = json.loads(run(["history", "--json"], env).stdout)
    assert [r["id"] for r in listed] == [record["id"]]


@pytest.mark.e2e
def test_piped_text_is_the_context_and_dash_reads_the_question(env: dict[str, str]) -> None:
    notes = "Meeting notes: the launch moves to Friday. Ada owns the release checklist.\n"
    proc = run(["ask", "Who owns the release checklist?", "--models", "smollm2-135m", "--json",
                "--max-tokens", "16", "--system", "Answer with one name."], env, stdin=notes)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["context"] == notes and record["question"] == "Who owns the release checklist?"
    assert record["params"]["system"] == "Answer with one name."
    assert record["answers"][0]["status"] == "done"
    dashed = run(["ask", "-", "--models", "smollm2-135m", "--json", "--max-tokens", "8"], env,
                 stdin="What is the capital of France?\n")
    assert dashed.returncode == 0, dashed.stderr
    assert json.loads(dashed.stdout)["question"] == "What is the capital of France?"


@pytest.mark.e2e
def test_show_prints_what_ask_printed(env: dict[str, str]) -> None:
    # `drux show` left out the explanation line `drux ask` printed under the score.
    asked = run(["ask", "Is the Sun a star? Answer yes or no.", "--models",
                 "smollm2-135m,gemma3-270m", "--max-tokens", "8"], env)
    assert asked.returncode == 0, asked.stderr
    (listed,) = json.loads(run(["history", "--json"], env).stdout)
    shown = run(["show", listed["id"]], env)
    assert shown.returncode == 0, shown.stderr
    assert "Consensus Score:" in shown.stdout and shown.stdout == asked.stdout


@pytest.mark.e2e
def test_output_survives_an_ask_that_ends_while_a_model_loads(env: dict[str, str]) -> None:
    # llama-cpp-python pointed fds 1/2 at /dev/null during the load; the record and the
    # error printed meanwhile were lost and the command exited 1 in silence.
    proc = run(["ask", "hi", "--models", "smollm2-135m", "--json", "--timeout", "0.01"], env)
    record = json.loads(proc.stdout)
    assert record["answers"][0]["status"] in ("failed", "partial", "done")
    live = run(["ask", "hi", "--models", "smollm2-135m", "--timeout", "0.01"], env)
    assert "Consensus Score" in live.stdout
    assert live.returncode == 0 or live.stderr.startswith("error: ")


@pytest.mark.e2e
def test_ask_default_panel_live_output(env: dict[str, str]) -> None:
    proc = run(["ask", "Is the Sun a star? Answer yes or no.", "--max-tokens", "16"], env)
    assert proc.returncode == 0, proc.stderr
    for model in ("smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"):
        assert model in proc.stdout
    assert "Consensus Score:" in proc.stdout


@pytest.mark.e2e
def test_live_ask_names_each_skipped_model_once(env: dict[str, str]) -> None:
    # The live ask printed the skipped members as it started and again under the answers.
    proc = run(["ask", "What is 2+2?", "--panel", "frontier", "--max-tokens", "4"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("skipped gpt-4.1: set OPENAI_API_KEY") == 1
    assert proc.stdout.count("skipped ") == 4  # every cloud member of the panel, no key here
    (listed,) = json.loads(run(["history", "--json"], env).stdout)
    shown = run(["show", listed["id"]], env)
    assert shown.stdout.count("skipped ") == 4  # `drux show` still lists them


@pytest.mark.parametrize("mode", [["--json"], []], ids=["json", "live"])
def test_ctrl_c_saves_partial_and_exits_cleanly(env: dict[str, str], tmp_path: Path,
                                                mode: list[str]) -> None:
    """A slow vendor (wire-level fake through the real openai SDK) streams one word every
    50 ms; Ctrl-C mid-answer keeps what arrived, marked partial, and exits with 130."""
    import sqlite3

    from fakes import FakeServer, Reply

    with FakeServer() as server:
        server.script("slow", Reply(text=" ".join(f"word{i}" for i in range(600)),
                                    chunk_delay=0.05))
        (tmp_path / "p.toml").write_text(
            f'[providers.slowvendor]\nbase_url = "{server.openai_url}"\nkey_required = false\n'
            '[models.slow]\nprovider = "slowvendor"\n')
        # Like a terminal: SIGINT at its default (a test runner may ignore it, and an
        # ignored disposition is inherited across exec).
        proc = subprocess.Popen([*DRUX, "ask", "Say many words.", "--models", "slow", *mode],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        db = Path(env["DRUX_DATA_DIR"]) / "drux.db"

        def streaming() -> bool:
            """Tokens are flowing: the periodic flush has written some text."""
            assert proc.poll() is None, "the ask ended before it was interrupted"
            if not db.exists():
                return False
            try:
                with sqlite3.connect(db) as conn:
                    row = conn.execute("select status, length(text) from answers").fetchone()
            except sqlite3.Error:  # not migrated yet, or busy
                return False
            return bool(row and row[0] == "streaming" and row[1])

        wait_until(streaming, "the answer never started streaming", interval=0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    listed = json.loads(run(["history", "--json"], env).stdout)
    assert listed[0]["status"] == "partial"
    record = json.loads(run(["show", listed[0]["id"], "--json"], env).stdout)
    answer = record["answers"][0]
    assert answer["status"] == "partial"
    assert answer["text"].startswith("word0 word1")
    assert "word599" not in answer["text"]


def test_bad_input_gives_one_line_errors(env: dict[str, str]) -> None:
    assert_one_line_error(run(["ask", "   "], env), "empty")
    assert_one_line_error(run(["ask", "hi", "--models", "no-such-model"], env), "unknown model")
    assert_one_line_error(run(["ask", "hi", "--panel", "nope"], env), "unknown panel")
    assert_one_line_error(run(["ask", "x" * 9000, "--models", "smollm2-135m"], env), "limit")
    assert_one_line_error(run(["ask", "hi", "--max-tokens", "0"], env), "max-tokens")
    assert_one_line_error(run(["show", "doesnotexist"], env), "no ask")
    long_id = run(["show", "x" * 5000], env)
    assert_one_line_error(long_id, "no ask")
    assert len(long_id.stderr) < 200
    # A prefix longer than any id once reached SQLite as "LIKE pattern too complex".
    assert_one_line_error(run(["show", "a" * 60000], env), "no ask")


def test_usage_errors_are_one_line_with_exit_2(env: dict[str, str]) -> None:
    # typer vendors its own click exceptions: they were reported as "unexpected BadParameter".
    for args, needle in ((["ask", "hi", "--timeout", "abc"], "--timeout"),
                         (["ask"], "Missing argument"),
                         (["ask", "hi", "--bogus"], "--bogus"),
                         (["history", "--limit", "0"], "--limit"),
                         (["nosuch"], "nosuch")):
        proc = run(args, env)
        assert_one_line_error(proc, needle)
        assert "unexpected" not in proc.stderr
        assert proc.returncode == 2
    bare = run([], env)
    assert "Usage: drux" in bare.stdout and "unexpected" not in bare.stderr
    # Non-UTF-8 bytes in an argument failed deep in the store as "unexpected UnicodeEncodeError".
    for args in (["show", os.fsdecode(b"a\xffb")], ["ask", os.fsdecode(b"caf\xe9?")]):
        proc = run(args, env)
        assert_one_line_error(proc, "not valid UTF-8")
        assert proc.returncode == 2



def test_bad_drux_settings_name_the_variable_in_one_line(env: dict[str, str]) -> None:
    # Was "error: unexpected ValidationError: 1 validation error for Settings" over 3 lines,
    # and DRUX_PORT=99999 or DRUX_MAX_TOKENS=-5 were accepted.
    for var, value in (("DRUX_TIMEOUT", "abc"), ("DRUX_PORT", "99999"),
                       ("DRUX_MAX_TOKENS", "-5"), ("DRUX_TIMEOUT", "nan")):
        proc = run(["history"], dict(env, **{var: value}))
        assert_one_line_error(proc, var)
        assert proc.returncode == 2


def test_unwritable_database_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    env = dict(env, DRUX_DATABASE_URL=f"sqlite:///{locked}/sub/drux.db")
    if os.geteuid() == 0:  # root ignores permissions: use a path under a regular file instead
        blocker = tmp_path / "file"
        blocker.write_text("x")
        env["DRUX_DATABASE_URL"] = f"sqlite:///{blocker}/drux.db"
    assert_one_line_error(run(["history"], env), "cannot write the database")


def test_unreachable_or_garbage_databases_are_one_line_errors(env: dict[str, str],
                                                              tmp_path: Path) -> None:
    # psycopg's "connection refused" spans two lines; it was printed as is.
    proc = run(["history"], dict(env, DRUX_DATABASE_URL="postgresql://u:SECRETPW@127.0.0.1:1/db"))
    assert_one_line_error(proc, "cannot migrate the database")
    assert "SECRETPW" not in proc.stderr
    data = tmp_path / "garbage"
    data.mkdir()
    (data / "drux.db").write_bytes(os.urandom(20000))
    assert_one_line_error(run(["history"], dict(env, DRUX_DATA_DIR=str(data))), "not a database")


def test_corrupted_or_missing_weights_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF" + b"\0" * 1000)
    env = dict(env, DRUX_CACHE_DIR=str(cache))
    assert_one_line_error(run(["ask", "hi", "--models", "smollm2-135m"], env),
                          "smollm2-135m is not usable", "drux models assemble")
    assert_one_line_error(run(["models", "assemble", "smollm2-135m"], env), "refusing to load")
    # Right size, wrong bytes: only the sha256 can tell.
    with (cache / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").open("r+b") as fh:
        fh.truncate(98_362_432)
    assert_one_line_error(run(["models", "assemble", "smollm2-135m"], env), "sha256",
                          "refusing to load")
    assert_one_line_error(run(["ask", "hi", "--models", "qwen2.5-1.5b"], env),
                          "not usable", "make models-judge")


def test_provider_keys_are_stored_0600_and_never_printed(env: dict[str, str], tmp_path: Path) -> None:
    secret = "sk-test-" + "x" * 24
    proc = run(["provider-keys", "set", "openai", "--key", secret], env)
    assert proc.returncode == 0, proc.stderr
    keys_file = tmp_path / "k.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    listed = run(["provider-keys", "list"], env)
    assert "openai       stored" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    models = run(["models", "--json"], env)
    assert secret not in models.stdout
    row = next(r for r in json.loads(models.stdout) if r["id"] == "gpt-4.1")
    assert row["usable"] is True
    assert_one_line_error(run(["provider-keys", "set", "nosuchvendor", "--key", "k"], env),
                          "unknown provider")
    bad = run(["provider-keys", "set", "openai", "--key", "sk-new\nline"], env)
    assert_one_line_error(bad, "control")
    assert "sk-new" not in bad.stderr + bad.stdout
    assert run(["provider-keys", "remove", "openai"], env).returncode == 0
    row = next(r for r in json.loads(run(["models", "--json"], env).stdout) if r["id"] == "gpt-4.1")
    assert row["usable"] is False

"""Bad input to the ``drux`` command and to drux.toml: one ``error:`` line on stderr, a
non-zero exit, no traceback, and nothing already accepted lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# A panel whose one model is refused at once (nothing listens on port 1): cheap to run.
REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           '[models.m]\nprovider = "nowhere"\n[panels]\ndefault = ["m"]\n')


def _drux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200"})  # tables unwrapped


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str, code: int = 2) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0]


def test_an_empty_panel_name_is_not_the_default_panel(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    # `--panel ""` silently asked the whole default panel.
    for args in (["ask", "hi", "--panel", ""], ["hub", "faq", "lunar-night-lander", "--panel", ""]):
        _one_line_error(_drux(*args), "unknown panel ''")


def test_too_many_llama_threads_is_a_settings_error(drux_env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # DRUX_THREADS=100000 was accepted and llama.cpp crashed the process (segfault) mid-ask.
    monkeypatch.setenv("DRUX_THREADS", "100000")
    _one_line_error(_drux("ask", "hi", "--models", "smollm2-135m"), "DRUX_THREADS")


def test_square_brackets_in_stored_text_are_shown_not_read_as_markup(drux_env: Path) -> None:
    # A question, article title, key name or model id holding "[/]" made Rich fail on the
    # whole table: `drux history`, `hub list`, `keys list`, `models`, `status` and the end of
    # `drux ask` all ended with "unexpected MarkupError", for good once the text was stored.
    (drux_env / "project.toml").write_text(REFUSED.replace("[models.m]", '[models."m[/]"]')
                                           .replace('["m"]', '["m[/]"]'))
    asked = _drux("ask", "[/] why [bold]?", "--models", "m[/]")
    assert asked.returncode == 1 and asked.stderr == "error: no model produced an answer\n"
    article = drux_env / "a.md"
    article.write_text('---\ntitle: "[/] Title"\ndate: 2026-11-02\n---\nBody.\n')
    assert _drux("hub", "import", str(article)).returncode == 0
    assert _drux("keys", "create", "[/]team").returncode == 0
    for args, shown in ((["history"], "[/] why [bold]?"), (["hub", "list"], "[/] Title"),
                        (["keys", "list"], "[/]team"), (["models"], "m[/]"),
                        (["status"], "m[/]")):
        proc = _drux(*args)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)
        assert shown in proc.stdout, args


@pytest.mark.parametrize(("var", "value"), [("DRUX_WEB_ALLOWED_HOSTS", "a.example"),
                                             ("DRUX_WEB_PAGE_SIZE", "lots")])
def test_bad_web_settings_name_the_variable(drux_env: Path, monkeypatch: pytest.MonkeyPatch,
                                            var: str, value: str) -> None:
    # Was "unexpected ValidationError" and pydantic's four-line report.
    monkeypatch.setenv(var, value)
    _one_line_error(_drux("serve", "--port", "1"), f"{var}: ")


def test_keys_create_with_an_empty_models_list_makes_no_key(drux_env: Path) -> None:
    # `--models ",,"` (or "") created a key allowed to use every model.
    for models in ("", " , ,"):
        _one_line_error(_drux("keys", "create", "team", "--models", models),
                        "--models needs at least one model or group name")
    listed = _drux("keys", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"


def test_keys_create_refuses_an_overlong_or_unprintable_name(drux_env: Path) -> None:
    for name in ("k" * 201, "team\x1b[31m"):
        _one_line_error(_drux("keys", "create", name), "printable text of at most 200")
    listed = _drux("keys", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"
    assert _drux("keys", "create", "k" * 200).returncode == 0


def test_hub_import_of_an_empty_path_imports_nothing(drux_env: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # "" (an unset shell variable) became "." and imported every article of the folder.
    (drux_env / "stray.md").write_text("---\ntitle: Stray\ndate: 2026-11-02\n---\nBody.\n")
    monkeypatch.chdir(drux_env)
    _one_line_error(_drux("hub", "import", ""), "the path is empty")
    listed = _drux("hub", "list", "--json", "--query", "Stray")
    assert listed.returncode == 0 and '"stray"' not in listed.stdout


def test_eval_calibration_checks_backend_and_judge_before_the_panel_runs(drux_env: Path) -> None:
    # Both were found only after every question had been put to the panel.
    (drux_env / "project.toml").write_text(REFUSED)
    data = drux_env / "q.jsonl"
    data.write_text('{"question": "Who?", "answer": ["x"]}\n')
    answers = drux_env / "answers.jsonl"
    for args, needle in ((["--backend", "nope"], "unknown consensus backend 'nope'"),
                         (["--backend", "judge", "--judge", "nope"], "unknown model 'nope'")):
        _one_line_error(_drux("eval", "calibration", "--data", str(data), "--answers",
                              str(answers), *args), needle)
        assert not answers.exists()


def test_a_database_from_a_newer_drux_is_a_one_line_error(drux_env: Path) -> None:
    # An Alembic revision this drux does not know was "unexpected CommandError".
    import sqlite3

    (drux_env / "data").mkdir()
    with sqlite3.connect(drux_env / "data" / "drux.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('f00dfeed9999')")
    _one_line_error(_drux("history"), "'f00dfeed9999'", code=1)


def test_another_apps_database_is_refused_and_left_as_it_was(drux_env: Path) -> None:
    # Migrating it failed half way (its own "asks" table) and left drux's tables behind.
    import sqlite3

    (drux_env / "data").mkdir()
    path = drux_env / "data" / "drux.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE asks (id INTEGER PRIMARY KEY, what TEXT)")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    for _ in range(2):  # the same clear error every time
        _one_line_error(_drux("history"), "not made by drux (it has tables asks, notes)",
                        code=1)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"asks", "notes"}


@pytest.mark.parametrize(("args", "message"), [
    (["ask", "hi", "--max-tokens", "0"], "--max-tokens must be between 1 and 8192"),
    (["ask", "hi", "--timeout", "0"], "--timeout must be above 0 and at most 3600 seconds"),
    (["ask", "hi", "--temperature", "2.5"], "--temperature must be between 0 and 2"),
    (["ask", "hi", "--backend", "nope"], "--backend must be cross, fast, judge or hybrid"),
    (["ask", " "], "the question is empty"),
    (["ask", "hi", "--system", "s" * 4001], "--system has 4001 characters; the limit is 4000"),
    (["hub", "faq", "lunar-night-lander", "--max-tokens", "9000"],
     "--max-tokens must be between 1 and 8192"),
])
def test_a_refused_ask_option_is_named_by_its_flag(drux_env: Path, args: list[str],
                                                   message: str) -> None:
    # The service checks AskOptions and names the field (max_tokens); the CLI says the flag.
    (drux_env / "project.toml").write_text(REFUSED)
    proc = _drux(*args)
    _one_line_error(proc, message)
    assert proc.stderr == f"error: {message}\n"


def test_a_bad_routing_value_in_drux_toml_is_one_line(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED + "[routing.retry]\nmax_attempts = 0\n")
    _one_line_error(_drux("ask", "hi"),
                    "[routing.retry] max_attempts must be a whole number of at least 1", code=1)


def test_ask_with_an_unusable_judge_fails_before_any_model_is_asked(
        drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12, case 6: every model ran first, then "scoring failed: InputError..." printed
    # twice, and the exit code was 0.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (drux_env / "project.toml").write_text(REFUSED)
    for backend in ("judge", "hybrid"):
        _one_line_error(_drux("ask", "hi", "--backend", backend, "--judge", "gpt-4.1"),
                        f"the {backend} backend needs judge model gpt-4.1, which is not usable")
    history = _drux("history", "--json")
    assert history.returncode == 0 and '"id"' not in history.stdout  # no ask was stored

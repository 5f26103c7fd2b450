"""``drux keys`` as a user runs it: the secret is printed once, never listed, and
mistakes are one-line errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from drux.config import Settings
from drux.store import Store
from drux.store.keys import hash_key

from waiting import PATIENCE_S, REQUEST_S, first_answer


def drux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=60)


def test_keys_create_list_revoke(drux_env: Path) -> None:
    made = drux("keys", "create", "ci-bot", "--models", "gpt-4.1,gpt-4.1-mini", "--rpm", "60",
                "--budget", "2.5")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("drux-") and len(secret) > 40
    assert "shown only now" in made.stderr and secret not in made.stderr

    listed = drux("keys", "list", "--json")
    assert listed.returncode == 0 and secret not in listed.stdout
    (info,) = json.loads(listed.stdout)
    assert info["name"] == "ci-bot" and info["active"] and info["rpm"] == 60
    assert info["allowed_models"] == ["gpt-4.1", "gpt-4.1-mini"] and info["budget_usd"] == 2.5
    assert secret not in drux("keys", "list").stdout

    store = Store(Settings().db_url)
    assert [k.info.id for k in store.keys.active() if k.key_hash == hash_key(secret)] == [info["id"]]
    store.close()

    revoked = drux("keys", "revoke", secret[:12])
    assert revoked.returncode == 0 and "revoked key" in revoked.stdout
    assert json.loads(drux("keys", "list", "--json").stdout)[0]["active"] is False


def test_keys_mistakes_are_one_line_errors(drux_env: Path) -> None:
    for args, needle in [(("keys", "create", "x", "--models", "no-such-model"), "unknown model"),
                         (("keys", "create", "x", "--rpm", "0"), "--rpm"),
                         # were "unexpected OverflowError" and a budget listed as Infinity
                         (("keys", "create", "x", "--tpm", "99999999999999999999"), "--tpm"),
                         (("keys", "create", "x", "--budget", "inf"), "--budget"),
                         (("keys", "revoke", "drux-"), "at least 8"),
                         (("keys", "revoke", "drux-nothing-like-this"), "no key matches")]:
        done = drux(*args)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], done.stderr


def test_a_leaked_key_is_revoked_by_its_secret_which_is_never_echoed(drux_env: Path) -> None:
    # Pasting the whole secret matched nothing (only the 12-character prefix is stored)
    # and the error printed the secret back.
    secret = drux("keys", "create", "leaky").stdout.strip()
    wrong = drux("keys", "revoke", secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert wrong.returncode != 0 and "no key matches" in wrong.stderr
    assert secret[12:20] not in wrong.stderr
    revoked = drux("keys", "revoke", secret)
    assert revoked.returncode == 0 and secret[12:20] not in revoked.stdout + revoked.stderr
    assert json.loads(drux("keys", "list", "--json").stdout)[0]["active"] is False


def test_drux_gateway_refuses_a_busy_port_or_bad_port_in_one_line(drux_env: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = drux("gateway", "--port", str(busy.getsockname()[1]))
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and "cannot listen" in lines[0], done.stderr
    assert drux("gateway", "--port", "99999").returncode == 2


def test_drux_gateway_serves_until_stopped(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text('[gateway]\nmodels = ["gpt-4.1"]\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from drux.cli import main; main()", "gateway",
                             "--port", str(port), "--access-log"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        health = first_answer(f"http://127.0.0.1:{port}/health", proc, "drux gateway")
        assert health.json() == {"status": "ok"}
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=REQUEST_S).json()
        assert [m["id"] for m in models["data"]] == ["gpt-4.1"]
    finally:
        proc.terminate()
        log, _ = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutdown
    assert '"GET /v1/models HTTP/1.1" 200' in log  # --access-log was silenced by log level warning


def test_drux_gateway_with_a_bad_config_is_a_one_line_error(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text('[gateway]\nmodels = ["no-such-model"]\n')
    done = drux("gateway", "--port", "1")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "no-such-model" in done.stderr

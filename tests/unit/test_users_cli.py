"""``drux users``: create (prompted twice or from stdin), list, disable, set-role; errors
are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drux.store import Store


def _drux(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def _store(drux_env: Path) -> Store:
    return Store(f"sqlite:///{drux_env / 'data' / 'drux.db'}")


def test_create_list_set_role_disable(drux_env: Path) -> None:
    made = _drux("users", "create", "ada", "--role", "admin", "--password-stdin",
                 stdin="correct horse\n")
    assert made.returncode == 0 and made.stdout.strip() == "created admin ada", made.stderr
    assert "correct horse" not in made.stdout + made.stderr
    assert _drux("users", "create", "bob", "--password-stdin", stdin="long enough\n"
                 ).returncode == 0
    listed = _drux("users", "list")
    assert listed.stdout.splitlines() == ["ada\tadmin\tactive", "bob\tmember\tactive"]
    assert _drux("users", "set-role", "bob", "admin").stdout.strip() == "bob is now admin"
    assert _drux("users", "disable", "bob").stdout.strip() == "disabled bob"
    store = _store(drux_env)
    try:
        assert store.users.verify("ada", "correct horse") is not None
        assert store.users.verify("bob", "long enough") is None  # disabled
        bob = store.users.get("bob")
        assert bob is not None and bob.role == "admin" and bob.disabled
    finally:
        store.close()


def test_errors_are_one_line(drux_env: Path) -> None:
    cases = [
        (("users", "create", "ada", "--password-stdin"), "short\n", "password"),
        (("users", "create", "a b", "--password-stdin"), "long enough\n", "the username takes"),
        (("users", "create", "ada", "--role", "root", "--password-stdin"), "long enough\n",
         "--role is admin or member"),
        (("users", "disable", "nobody"), "", "no user named 'nobody'"),
        (("users", "set-role", "nobody", "admin"), "", "no user named 'nobody'"),
    ]
    for args, stdin, message in cases:
        result = _drux(*args, stdin=stdin)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert _drux("users", "create", "ada", "--password-stdin", stdin="long enough\n"
                 ).returncode == 0
    again = _drux("users", "create", "ada", "--password-stdin", stdin="long enough\n")
    assert again.returncode == 2 and again.stderr.strip() == "error: a user named 'ada' already exists"


def test_the_prompted_password_is_asked_twice(drux_env: Path) -> None:
    differ = _drux("users", "create", "ada", stdin="long enough\nother one\n")
    assert differ.returncode == 1
    assert differ.stderr.strip().splitlines()[-1] == "error: the two passwords differ; nothing was saved"
    same = _drux("users", "create", "ada", stdin="long enough\nlong enough\n")
    assert same.returncode == 0 and "created member ada" in same.stdout
    assert "long enough" not in same.stdout


def test_serve_refuses_a_non_loopback_address_without_accounts(drux_env: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    refused = _drux("serve", "--host", "0.0.0.0", "--port", port)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "drux users create" in lines[0] and "0.0.0.0" in lines[0], lines


def test_with_an_account_a_non_loopback_address_is_allowed(drux_env: Path) -> None:
    from drux.cli.web import _refuse_open_without_accounts
    from drux.services import Services

    services = Services.from_settings()
    try:
        _refuse_open_without_accounts("127.0.0.1", services)  # loopback: always
        services.store.users.create("ada", "long enough", "admin")
        _refuse_open_without_accounts("0.0.0.0", services)
    finally:
        services.store.close()

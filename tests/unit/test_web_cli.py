"""``drux serve`` as a user runs it: a real process, real settings, offline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from waiting import PATIENCE_S, REQUEST_S, first_answer

DRUX = [str(Path(sys.executable).parent / "drux")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_starts_serves_pages_and_stops(drux_env: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([*DRUX, "serve", "--port", str(port), "--log-level", "warning"],
                            env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        r = first_answer(f"http://127.0.0.1:{port}/", proc, "drux serve")
        assert r.status_code == 200 and "The Hub" in r.text, (r.status_code, r.text[:500])
        assert "content-security-policy" in r.headers
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=REQUEST_S).json()
        assert any(m["id"] == "smollm2-135m" for m in status["models"])
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out
    assert "Traceback" not in err


def test_serve_on_a_taken_port_is_one_line(drux_env: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([*DRUX, "serve", "--port", str(port)], capture_output=True,
                           text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert len(r.stderr.strip().splitlines()) == 1


def test_serve_with_an_unusable_database_is_one_line(drux_env: Path) -> None:
    env = {**os.environ, "DRUX_DATA_DIR": "/proc/drux-cannot-write-here"}
    r = subprocess.run([*DRUX, "serve", "--port", str(_free_port())], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("error: cannot write the database")
    assert len(r.stderr.strip().splitlines()) == 1


def test_serve_listens_where_drux_host_and_drux_port_say(drux_env: Path) -> None:
    # `drux gateway` read DRUX_HOST/DRUX_PORT but `drux serve` always took 127.0.0.1:8000.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DRUX_HOST": "127.0.0.1", "DRUX_PORT": str(port)}
        r = subprocess.run([*DRUX, "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"error: cannot listen on 127.0.0.1:{port}: "
                                "Address already in use")


def test_serve_with_a_bad_drux_port_names_the_variable(drux_env: Path) -> None:
    env = {**os.environ, "DRUX_PORT": "0"}
    r = subprocess.run([*DRUX, "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert r.stderr.startswith("error: DRUX_PORT:")
    assert len(r.stderr.strip().splitlines()) == 1

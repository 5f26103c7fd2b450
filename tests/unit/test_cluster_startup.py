"""Many `drux serve` processes started at once on one new database all come up (issue 11):
migrations take a lock, Hub seeding is one step, and none of them dies at start-up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from drux.hub.service import SAMPLE_CONTENT, collect
from drux.store import Store

from waiting import PATIENCE_S, REQUEST_S, first_answer, wait_until

DRUX = str(Path(sys.executable).parent / "drux")
STARTING_S = 4 * PATIENCE_S  # eight servers importing at once on a loaded two-core machine

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _servers(count: int, logs: Path) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    logs.mkdir(exist_ok=True)
    started = []
    for i in range(count):
        port = _free_port()
        err = (logs / f"serve-{i}.log").open("w")
        proc = subprocess.Popen([DRUX, "serve", "--port", str(port), "--log-level", "warning"],
                                env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=err,
                                text=True)
        started.append((f"http://127.0.0.1:{port}", proc))
    try:
        yield started
    finally:
        for _, proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, proc in started:
            try:
                proc.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _all_come_up(url: str, count: int, logs: Path) -> None:
    with _servers(count, logs) as servers:
        for base, proc in servers:
            wait_until(lambda b=base, p=proc: _answers(b, p), f"{base} did not come up",
                       patience=STARTING_S)
        for base, proc in servers:
            status = first_answer(f"{base}/api/status", proc, "drux serve")
            assert status.status_code == 200, status.text
            assert httpx.get(f"{base}/", timeout=REQUEST_S).status_code == 200
    for log in sorted(logs.iterdir()):
        assert "Traceback" not in log.read_text(), log.read_text()
    samples = sorted(doc.slug for doc in collect(SAMPLE_CONTENT))
    store = Store(url)
    try:
        with store.sessions() as session:
            ids = sorted(r[0] for r in session.execute(text("SELECT id FROM articles")))
    finally:
        store.close()
    assert ids == samples  # every sample article, each once


def _answers(base: str, proc: subprocess.Popen[str]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"drux serve at {base} exited with {proc.returncode}")
    try:
        return httpx.get(f"{base}/health", timeout=REQUEST_S).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.postgres
def test_eight_servers_start_at_once_on_a_new_postgres_database(
        drux_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_DATABASE_URL", pg_url)
    _all_come_up(pg_url, 8, drux_env / "logs")


def test_three_servers_start_at_once_on_a_new_shared_sqlite_file(
        drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{drux_env / 'shared.db'}"
    monkeypatch.setenv("DRUX_DATABASE_URL", url)
    _all_come_up(url, 3, drux_env / "logs")

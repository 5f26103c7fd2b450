"""Real drux processes on one throwaway Redis and one SQLite file: ``drux serve`` and
``drux worker``, models served by the wire-level fake vendor (tests/fakes) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from fakes import FakeServer
from waiting import PATIENCE_S, wait_until

DRUX = str(Path(sys.executable).with_name("drux"))
MODELS = ("quick", "slow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_toml(server: FakeServer) -> str:
    members = "\n".join(f'[models.{m}]\nprovider = "fakevendor"\nfamily = "f{m}"\n'
                        for m in MODELS)
    return (f'[providers.fakevendor]\nbase_url = "{server.openai_url}"\nkey_required = false\n'
            f'\n{members}\n[panels]\ndefault = {json.dumps(list(MODELS))}\n')


class Cluster:
    """Processes started by a test, each stopped (SIGKILL at worst) when it ends."""

    def __init__(self, root: Path, server: FakeServer, redis_url: str) -> None:
        (root / "drux.toml").write_text(project_toml(server))
        self.env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        self.env.update(DRUX_DATA_DIR=str(root / "data"), DRUX_USER_CONFIG=str(root / "u.toml"),
                        DRUX_PROJECT_CONFIG=str(root / "drux.toml"),
                        DRUX_KEYS_FILE=str(root / "k.json"), DRUX_REDIS_URL=redis_url,
                        PYTHONUNBUFFERED="1",
                        # Only the tests about limits hit them (as web_kit.relaxed does).
                        DRUX_WEB_ASKS_PER_MINUTE="600", DRUX_WEB_ASK_BURST="100")
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"p{len(self.processes)}.log").open("wb")
        proc = subprocess.Popen([DRUX, *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", "2")

    def serve(self, *extra: str) -> str:
        port = free_port()
        proc = self.start("serve", "--port", str(port), "--log-level", "warning", *extra)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, f"drux serve stopped: {self.logs()}"
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "drux serve did not start")
        return base

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:]
                         for p in sorted(self.root.glob("p*.log")))

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Follower:
    """An SSE client in a thread: every (id, event) it received, until ``done`` or a drop."""

    def __init__(self, base: str, ask_id: str, last_event_id: str | None = None,
                 stop_after: int | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self._args = (f"{base}/api/asks/{ask_id}/events", headers, stop_after)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        url, headers, stop_after = self._args
        try:
            with httpx.stream("GET", url, headers=headers, timeout=PATIENCE_S) as stream:
                block: dict[str, str] = {}
                for line in stream.iter_lines():
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        block[name] = value
                        continue
                    if "data" in block:
                        self.events.append((block["id"], json.loads(block["data"])))
                        if self.events[-1][1]["type"] == "done" or len(self.events) == stop_after:
                            return  # leaving the stream drops the connection
                    block = {}
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            self.ended.set()

    def types(self) -> list[str]:
        return [e["type"] for _, e in self.events]

    def wait_end(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.ended.wait(PATIENCE_S * 2), "the follower never ended"
        assert self.error is None, self.error
        return self.events

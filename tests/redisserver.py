"""A throwaway Redis server for the tests that need one.

Debian's ``redis-server`` package (``make redis`` installs it) provides the binary; no system
service is started or changed. Each server listens on 127.0.0.1 at a free port, keeps nothing on
disk (no RDB snapshots, no AOF) and lives in a fresh temp directory deleted at the end. Tests
stop and restart it to prove what happens when Redis goes away (``stop()`` / ``start()`` keep
the port, so clients reconnect to the same URL).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def find_redis() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    binary: str
    root: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    databases: int = 16
    _next_db: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, deadline: float = 60.0) -> None:
        """Start (or restart on the same port); returns once the server logs that it is ready
        (read from its output line by line: no polling)."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.root),
             "--databases", str(self.databases), "--protected-mode", "yes"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(self.process.stdout, ready),
                         daemon=True).start()
        if not ready.wait(deadline) or not _accepts(self.port):
            tail = (self.root / "redis.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"redis-server did not get ready within {deadline:g} s:\n{tail}")

    def _drain(self, out: IO[bytes], ready: threading.Event) -> None:
        with open(self.root / "redis.log", "ab") as log:
            for line in out:
                log.write(line)
                log.flush()
                if b"Ready to accept connections" in line:
                    ready.set()
        ready.set()  # exited: start() checks the port and reports the log

    def stop(self) -> None:
        """Kill the server at once (as a crash would); the port stays this server's."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)
        self.process = None

    def fresh_url(self) -> str:
        """A database number no other test used in this run, flushed: one test's keys never
        meet another's. Beyond ``databases`` numbers, the whole server is flushed instead."""
        import redis

        db = self._next_db % self.databases
        self._next_db += 1
        client = redis.Redis(host="127.0.0.1", port=self.port, db=db)
        try:
            client.flushdb()
        finally:
            client.close()
        return self.url_for(db)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis(binary: str) -> RedisServer:
    server = RedisServer(binary, Path(tempfile.mkdtemp(prefix="drux-redis-")))
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server

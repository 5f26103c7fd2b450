"""Start a drux cluster on this machine for the cluster benchmarks (loopback only).

One throwaway PostgreSQL and one throwaway Redis (the test suite's own starters,
tests/pgcluster.py and tests/redisserver.py: no system service is touched), the shared kit's
fake OpenAI-compatible upstream (copied to a temp folder, streaming answers of a set length),
then web processes (`drux serve`), job workers (`drux worker`) and optionally gateways
(`drux gateway`). ``mode="memory"`` starts one `drux serve` with no Redis: the embedded
default, the baseline of the same run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from redisserver import find_redis, start_redis  # noqa: E402

from pgcluster import find_bindir, start_cluster  # noqa: E402

KIT = Path(os.environ.get("DRUX_BENCH_KIT", ROOT.parent / "shared" / "bench" / "gateway"))
DRUX = [sys.executable, "-c", "from drux.cli import main; main()"]

CONFIG = """
[providers.bench]
base_url = "http://127.0.0.1:{up}/v1"
key_required = false
paid = false

[models.bench-a]
provider = "bench"
model = "bench-a-delay{delay}"
family = "bench-a"

[models.bench-b]
provider = "bench"
model = "bench-b-delay{delay}"
family = "bench-b"

[models.bench-c]
provider = "bench"
model = "bench-c-delay{delay}"
family = "bench-c"

[panels]
bench = ["bench-a", "bench-b", "bench-c"]

[gateway]
models = ["bench-a", "bench-b", "bench-c"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, deadline: float = 120.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"{url} did not answer within {deadline:g} s")
        time.sleep(0.1)


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=30)
        self.popen = None

    def pids(self) -> list[int]:
        """The process and its children (uvicorn workers)."""
        if self.popen is None:
            return []
        out = [self.popen.pid]
        for status in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.popen.pid:
                    out.append(int(status.parent.name))
        return out


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


@dataclass
class Cluster:
    mode: str  # "memory" (one process, no Redis) or "redis"
    web: int = 2
    workers: int = 2
    gateways: int = 0
    worker_concurrency: int = 50
    delay_ms: int = 100
    chunks: int = 10
    chunk_gap_ms: int = 20
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="drux-cluster-")))
    procs: list[Proc] = field(default_factory=list)
    web_urls: list[str] = field(default_factory=list)
    gateway_urls: list[str] = field(default_factory=list)
    _pg: object | None = None
    _redis: object | None = None

    def env(self) -> dict[str, str]:
        return self._env

    def start(self) -> Cluster:
        kit = self.root / "kit"
        shutil.copytree(KIT, kit)
        up = free_port()
        upstream = Proc("upstream", [sys.executable, str(kit / "fake_upstream.py"), "--port",
                                     str(up), "--chunks", str(self.chunks), "--chunk-gap-ms",
                                     str(self.chunk_gap_ms)], dict(os.environ),
                        self.root / "upstream.log")
        upstream.start()
        self.procs.append(upstream)
        wait_http(f"http://127.0.0.1:{up}/health")
        (self.root / "drux.toml").write_text(CONFIG.format(up=up, delay=self.delay_ms))
        env = {**os.environ, "DRUX_PROJECT_CONFIG": str(self.root / "drux.toml"),
               "DRUX_USER_CONFIG": str(self.root / "user.toml"),
               "DRUX_DATA_DIR": str(self.root / "data"), "DRUX_PANEL": "bench",
               "DRUX_WEB_ASKS_PER_MINUTE": "1000000", "DRUX_WEB_ASK_BURST": "100000",
               "PYTHONPATH": str(ROOT / "src")}
        if self.mode == "redis":
            bindir = find_bindir()
            binary = find_redis()
            if bindir is None or binary is None:
                raise SystemExit("needs PostgreSQL and redis-server (make postgresql redis)")
            self._pg = pg = start_cluster(bindir)
            self._redis = redis = start_redis(binary)
            env["DRUX_DATABASE_URL"] = pg.create_database("bench")  # type: ignore[attr-defined]
            env["DRUX_REDIS_URL"] = redis.url  # type: ignore[attr-defined]
        self._env = env
        webs = self.web if self.mode == "redis" else 1
        for i in range(webs):
            port = free_port()
            self._spawn(f"web{i}", [*DRUX, "serve", "--port", str(port)])
            self.web_urls.append(f"http://127.0.0.1:{port}")
        if self.mode == "redis":
            for i in range(self.workers):
                self.start_worker(i)
        for i in range(self.gateways):
            port = free_port()
            self._spawn(f"gateway{i}", [*DRUX, "gateway", "--port", str(port)])
            self.gateway_urls.append(f"http://127.0.0.1:{port}")
        try:
            for url in self.web_urls:
                wait_http(f"{url}/api/status")
            for url in self.gateway_urls:
                wait_http(f"{url}/health")
        except RuntimeError:
            for proc in self.procs:
                tail = proc.log.read_text(errors="replace")[-1500:] if proc.log.exists() else ""
                print(f"--- {proc.name} ---\n{tail}", file=sys.stderr)
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, self._env, self.root / f"{name}.log")
        proc.start()
        self.procs.append(proc)
        return proc

    def start_worker(self, i: int) -> Proc:
        return self._spawn(f"worker{i}", [*DRUX, "worker", "--concurrency",
                                          str(self.worker_concurrency)])

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name and p.popen is not None)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.kill(signal.SIGTERM)
        if self._redis is not None:
            self._redis.close()  # type: ignore[attr-defined]
        if self._pg is not None:
            self._pg.stop()  # type: ignore[attr-defined]
        shutil.rmtree(self.root, ignore_errors=True)

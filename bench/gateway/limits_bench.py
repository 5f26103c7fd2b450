#!/usr/bin/env python3
"""What Redis-backed limits add to a gateway call, against in-process ones (issue 11).

Two ``drux gateway --workers W`` side by side on the kit's fake upstream, identical but for
``DRUX_REDIS_URL`` (a throwaway redis-server on loopback, nothing on disk); each has one key
with ``--rpm``, ``--tpm`` and ``--budget`` set high, so every call runs the whole limit path
(a rate-limit hit, a reservation before the call, a settlement after it) and none is refused.
The kit's load generator measures them in alternating rounds (machine noise hits both alike)
at concurrency 1; the result is p50 and throughput per round and their medians, with Redis's
added p50 and throughput ratio. Usage:

  python bench/gateway/limits_bench.py [--kit DIR] [--workers 1 2] [--rounds 5] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # a server starting up: poll, bounded by the deadline
    raise SystemExit(f"{url} did not answer within {timeout} s")


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.a = args
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        for name in ("fake_upstream.py", "loadgen.py"):  # copied: the shared kit is not touched
            shutil.copy(Path(args.kit) / name, work / name)

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def gateway(self, name: str, upstream: int, workers: int,
                redis_url: str | None) -> tuple[str, str, int]:
        """A gateway with its own data folder and limited key: (url, key, pid)."""
        home = self.work / name
        home.mkdir()
        text = (HERE / "drux.toml.in").read_text().replace("@UP@", str(upstream))
        (home / "drux.toml").write_text(text.replace("@DEAD@", str(free_port())))
        env = {"DRUX_DATA_DIR": str(home / "data"), "DRUX_USER_CONFIG": str(home / "none.toml"),
               "DRUX_PROJECT_CONFIG": str(home / "drux.toml")}
        if redis_url:
            env["DRUX_REDIS_URL"] = redis_url
        drux = [sys.executable, "-c", "from drux.cli import main; main()"]
        key = subprocess.run([*drux, "keys", "create", "bench", "--rpm", "1000000", "--tpm",
                              "1000000000", "--budget", "1000000"], env={**os.environ, **env},
                             check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        proc = self.start([*drux, "gateway", "--port", str(port), "--workers", str(workers)],
                          env)
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        return f"http://127.0.0.1:{port}", key, proc.pid

    def load(self, url: str, key: str, pid: int, label: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, str(self.work / "loadgen.py"), "--url", f"{url}/v1/chat/completions",
             "--model", "fake-gpt",
             "--auth", key, "-c", "1", "-d", str(self.a.seconds), "--warmup", "1",
             "--watch-pid", str(pid), "--label", label],
            check=True, capture_output=True, text=True).stdout
        row = dict(json.loads(out.strip().splitlines()[-1]))
        if row["statuses"] != {"200": row["requests"]}:
            raise SystemExit(f"{label}: not every call answered 200: {row['statuses']}")
        return row


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="drux-limits-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            redis_port, upstream = free_port(), free_port()
            bench.start([redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--dir", tmp])
            up = bench.start([sys.executable, str(Path(tmp) / "fake_upstream.py"),
                              "--port", str(upstream)])
            wait_http(f"http://127.0.0.1:{upstream}/health", up)
            for workers in args.workers:
                memory = bench.gateway(f"memory-{workers}", upstream, workers, None)
                shared = bench.gateway(f"redis-{workers}", upstream, workers,
                                       f"redis://127.0.0.1:{redis_port}/0")
                for round_ in range(args.rounds):
                    for label, (url, key, pid) in (("memory", memory), ("redis", shared)):
                        row = bench.load(url, key, pid, label)
                        row.update(workers=workers, round=round_)
                        results.append(row)
                        print(json.dumps({k: row[k] for k in (
                            "label", "workers", "round", "rps", "p50_ms", "p99_ms",
                            "requests", "server_cpu_ms_per_req", "loadavg1")}), flush=True)
        finally:
            bench.stop_all()
    return results


def summary(results: list[dict[str, object]]) -> str:
    lines = ["| workers | limits | p50 ms (median of rounds) | req/s (median) | Redis adds p50 | "
             "Redis / memory req/s |", "|---|---|---|---|---|---|"]
    for workers in sorted({int(str(r["workers"])) for r in results}):
        med = {}
        for label in ("memory", "redis"):
            rows = [r for r in results if r["workers"] == workers and r["label"] == label]
            med[label] = (statistics.median(float(str(r["p50_ms"])) for r in rows),
                          statistics.median(float(str(r["rps"])) for r in rows))
        added = med["redis"][0] - med["memory"][0]
        ratio = med["redis"][1] / med["memory"][1]
        for label in ("memory", "redis"):
            extra = f"{added:+.3f} ms | {ratio:.2f}" if label == "redis" else " | "
            lines.append(f"| {workers} | {label} | {med[label][0]:.3f} | {med[label][1]:.0f} | "
                         f"{extra} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kit", default=str(REPO.parent / "shared" / "bench" / "gateway"))
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--json", default="", help="also write every round here")
    args = ap.parse_args()
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(summary(results))


if __name__ == "__main__":
    main()

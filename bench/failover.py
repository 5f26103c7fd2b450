#!/usr/bin/env python3
"""Blackout drill on loopback: drux routing vs LiteLLM's Router, same fakes, same run.

Under steady closed-loop load (``--concurrency`` callers) a primary deployment
with one fallback goes dark in phases: it answers 404 model_not_found, then 503,
then refuses connections, then accepts and never answers. Reported per phase:

- user-visible failures (a call that raised): goal 0
- p50/p99 latency once settled (``--settle`` s into the phase) and what that adds
  over the healthy phase: goal <= 5 ms once drux's breaker is open
- requests that still reached the dead primary, per minute (settled part)

Both systems call the same wire-level fake vendor (tests/fakes) through the
OpenAI protocol, each in its own process: drux from the project venv with its
default ``RoutingPolicy``, LiteLLM from a separate venv (``--litellm-python``)
with ``Router(fallbacks=...)`` and its defaults. Two drills: ``sequence`` (the
phases back to back, breaker state carried over, as in a real blackout) and
``isolated`` (a fresh process per failure mode, after a healthy warm-up).
Refused connections never reach the server, so hits in that phase are counted
by neither system's server side and shown as "-".

    .venv/bin/python bench/failover.py --litellm-python /work/bench-venv/bin/python
    .venv/bin/python bench/failover.py drive --system drux ...   (internal)

Only 127.0.0.1 is used. Nothing here imports drux or litellm at module level:
the driver runs in either venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRIMARY, BACKUP = "primary-up", "backup-up"
FAULTS = ("not_found_404", "overloaded_503", "refused", "hang")
LITELLM_ENV = {
    "LITELLM_TELEMETRY": "False", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True", "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
}


# --------------------------------------------------------------------------- driver side
async def _drux_caller(primary: str, backup: str, deadline: float) -> Any:
    from drux.catalog import Catalog, ModelSpec, VendorSpec
    from drux.config import AppConfig, Settings
    from drux.routing import HealthRegistry, RoutingPolicy, build_route
    from drux.types import ChatRequest, Message

    catalog = Catalog(vendors={"prim": VendorSpec("prim", "openai", "a", primary + "/v1"),
                               "back": VendorSpec("back", "openai", "b", backup + "/v1")})
    catalog.with_model(ModelSpec("primary", "prim", PRIMARY, "a", fallbacks=("backup",)))
    catalog.with_model(ModelSpec("backup", "back", BACKUP, "b"))
    config = AppConfig(settings=Settings(timeout=deadline), catalog=catalog,
                       explicit_keys={"prim": "bench", "back": "bench"})
    registry, policy = HealthRegistry(), RoutingPolicy(deadline=deadline)
    routes = {name: build_route(name, config, registry, policy=policy)
              for name in ("primary", "backup")}

    async def call(model: str) -> str:
        request = ChatRequest([Message("user", "hi")], max_tokens=16)
        return (await routes[model].complete(request)).deployment

    return call


async def _litellm_caller(primary: str, backup: str, deadline: float) -> Any:
    import litellm

    litellm.telemetry = False
    router = litellm.Router(
        model_list=[
            {"model_name": "primary", "litellm_params": {
                "model": f"openai/{PRIMARY}", "api_base": primary + "/v1", "api_key": "bench"}},
            {"model_name": "backup", "litellm_params": {
                "model": f"openai/{BACKUP}", "api_base": backup + "/v1", "api_key": "bench"}},
        ],
        fallbacks=[{"primary": ["backup"]}],
        timeout=deadline,
    )

    async def call(model: str) -> str:
        resp = await router.acompletion(model=model, max_tokens=16,
                                        messages=[{"role": "user", "content": "hi"}])
        hidden = getattr(resp, "_hidden_params", {}) or {}
        return str(hidden.get("api_base") or resp.model)

    return call


# (start wall time, ms, ok, who answered, error type, asked model)
Record = tuple[float, float, bool, str, str, str]


async def _drive(args: argparse.Namespace) -> list[Record]:
    make = _drux_caller if args.system == "drux" else _litellm_caller
    call = await make(args.primary, args.backup, args.timeout)
    await call("primary")  # warm-up: imports, connection pools
    await call("backup")
    records: list[Record] = []
    stop = asyncio.Event()

    in_flight: dict[int, tuple[float, float, str]] = {}

    async def worker(index: int) -> None:
        # Alternate the routed model and the backup asked directly: the backup calls
        # are the baseline for "added latency", measured under the same load.
        turn = index
        while not stop.is_set():
            model = ("primary", "backup")[turn % 2]
            turn += 1
            started, t0 = time.time(), time.perf_counter()
            in_flight[index] = (started, t0, model)
            try:
                who, ok, err = await call(model), True, ""
            except Exception as exc:  # a user-visible failure is what we count
                who, ok, err = "", False, type(exc).__name__
            records.append((started, (time.perf_counter() - t0) * 1000, ok, who, err, model))
            in_flight.pop(index, None)

    print("READY", flush=True)
    tasks = [asyncio.create_task(worker(i)) for i in range(args.concurrency)]
    await asyncio.sleep(args.duration)
    stop.set()
    await asyncio.wait(tasks, timeout=args.timeout + 5)
    for started, t0, model in in_flight.values():  # still waiting: not an answer
        records.append((started, (time.perf_counter() - t0) * 1000, False, "", "Unfinished",
                        model))
    return records


def drive(args: argparse.Namespace) -> None:
    records = asyncio.run(_drive(args))
    Path(args.out).write_text("".join(json.dumps(rec) + "\n" for rec in records))
    print("DONE", flush=True)
    os._exit(0)  # do not wait for pools stuck on the hung primary


# --------------------------------------------------------------------------- servers
class Blackhole:
    """Accepts connections on a port and never answers; counts request heads."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.requests = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.requests += data.count(b"POST ")

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


class Primary:
    """The primary's port through every phase: fake vendor, closed port, blackhole."""

    def __init__(self) -> None:
        from fakes import FakeServer

        self.server: Any = FakeServer().start()
        self.port = self.server.port
        self.url = self.server.url
        self.hole: Blackhole | None = None
        self._stopped_at = 0

    def hits(self) -> int | None:
        if self.hole is not None:
            return self.hole.requests
        if self.server is None:
            return None
        return len(self.server.requests_for(model=PRIMARY))

    def set_phase(self, phase: str) -> None:
        from fakes import Fail, Reply

        if phase == "healthy":
            self.server.script(PRIMARY, Reply(text="primary ok"))
        elif phase == "not_found_404":
            self.server.script(PRIMARY, Fail("not_found"))
        elif phase == "overloaded_503":
            self.server.script(PRIMARY, Fail("overloaded"))
        elif phase == "refused":
            self.server.stop()
            self.server = None
        elif phase == "hang":
            if self.server is not None:
                self.server.stop()
                self.server = None
            self.hole = Blackhole(self.port)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.hole is not None:
            self.hole.close()


# --------------------------------------------------------------------------- orchestration
def _python_for(system: str, args: argparse.Namespace) -> str:
    return sys.executable if system == "drux" else args.litellm_python


def run_drill(system: str, phases: list[str], backup_url: str, args: argparse.Namespace,
              workdir: Path) -> dict[str, Any]:
    primary = Primary()
    primary.set_phase(phases[0])
    out = workdir / f"{system}-{'-'.join(phases)}.jsonl"
    env = dict(os.environ, **LITELLM_ENV)
    cmd = [_python_for(system, args), str(Path(__file__).resolve()), "drive", "--system", system,
           "--primary", primary.url, "--backup", backup_url, "--timeout", str(args.timeout),
           "--concurrency", str(args.concurrency), "--duration", str(args.phase_s * len(phases)),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"{system} driver did not start: {line!r}")
        marks = []
        for phase in phases:
            primary.set_phase(phase)
            start = time.time()
            hits0 = primary.hits()
            time.sleep(args.settle)
            hits1 = primary.hits()
            time.sleep(args.phase_s - args.settle)
            marks.append({"phase": phase, "start": start, "end": time.time(),
                          "hits": _delta(hits0, primary.hits()),
                          "settled_hits": _delta(hits1, primary.hits())})
        proc.wait(timeout=args.timeout + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        primary.close()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {"system": system, "phases": [_phase_stats(m, records, args) for m in marks]}


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def _phase_stats(mark: dict[str, Any], records: list[list[Any]],
                 args: argparse.Namespace) -> dict[str, Any]:
    window = [r for r in records if mark["start"] <= r[0] < mark["end"]]
    inside = [r for r in window if r[5] == "primary"]
    settled_at = mark["start"] + args.settle
    lat = [r[1] for r in inside if r[2] and r[0] >= settled_at]
    base = [r[1] for r in window if r[5] == "backup" and r[2] and r[0] >= settled_at]
    settled_s = args.phase_s - args.settle
    errors: dict[str, int] = {}
    for r in inside:
        if not r[2]:
            errors[r[4]] = errors.get(r[4], 0) + 1
    p50, p99, b50, b99 = _pct(lat, 0.5), _pct(lat, 0.99), _pct(base, 0.5), _pct(base, 0.99)
    return {
        "phase": mark["phase"], "requests": len(inside),
        "failures": sum(1 for r in inside if not r[2]), "errors": errors,
        "answered_by_backup": sum(1 for r in inside if r[2] and (
            "back" in r[3].lower() or str(args.backup_port) in r[3])),
        "p50_ms": p50, "p99_ms": p99, "direct_backup_p50_ms": b50, "direct_backup_p99_ms": b99,
        "added_p50_ms": None if p50 is None or b50 is None else round(p50 - b50, 2),
        "added_p99_ms": None if p99 is None or b99 is None else round(p99 - b99, 2),
        "mean_ms_all": round(statistics.fmean(r[1] for r in inside), 2) if inside else None,
        "primary_hits": mark["hits"],
        "primary_hits_per_min_settled": (None if mark["settled_hits"] is None
                                         else round(mark["settled_hits"] * 60 / settled_s, 1)),
    }


def _table(results: list[dict[str, Any]]) -> str:
    head = ("| drill | system | phase | routed requests | user-visible failures | "
            "settled p50 / p99 ms | added p50 / p99 ms vs backup direct | "
            "primary hits/min (settled) |")
    lines = [head, "|" + "---|" * 8]
    for res in results:
        for p in res["phases"]:
            fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
            hits = p["primary_hits_per_min_settled"]
            lines.append(
                f"| {res['drill']} | {res['system']} | {p['phase']} | {p['requests']} | "
                f"{p['failures']} | {fmt(p['p50_ms'])} / {fmt(p['p99_ms'])} | "
                f"{fmt(p.get('added_p50_ms'))} / {fmt(p.get('added_p99_ms'))} | "
                f"{'-' if hits is None else hits} |")
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes import FakeServer, Reply

    systems = ["drux"] + (["litellm"] if args.litellm_python else [])
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with FakeServer() as backup:
        backup.default = Reply(text="backup ok")
        args.backup_port = backup.port
        drills = [("sequence", ["healthy", *FAULTS])] if "sequence" in args.drills else []
        if "isolated" in args.drills:
            drills += [("isolated", ["healthy", fault]) for fault in FAULTS]
        for drill, phases in drills:
            for system in systems:
                print(f"# {drill} {system}: {' -> '.join(phases)}", file=sys.stderr, flush=True)
                res = run_drill(system, phases, backup.url, args, workdir)
                res["drill"] = drill
                results.append(res)
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU, {platform.platform()}",
              "loadavg": os.getloadavg(), "args": {k: v for k, v in vars(args).items()
                                                    if k not in ("func",)},
              "results": results}
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    drive_cmd = sub.add_parser("drive")
    drive_cmd.add_argument("--system", choices=("drux", "litellm"), required=True)
    drive_cmd.add_argument("--primary", required=True)
    drive_cmd.add_argument("--backup", required=True)
    drive_cmd.add_argument("--timeout", type=float, default=10.0)
    drive_cmd.add_argument("--concurrency", type=int, default=8)
    drive_cmd.add_argument("--duration", type=float, required=True)
    drive_cmd.add_argument("--out", required=True)
    parser.add_argument("--litellm-python", default="",
                        help="python of a venv with litellm (empty: drux only)")
    parser.add_argument("--phase-s", type=float, default=12.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request deadline")
    parser.add_argument("--drills", default="sequence,isolated")
    parser.add_argument("--workdir", default="/tmp/drux-failover-bench")
    parser.add_argument("--json", default="/tmp/drux-failover-bench/report.json")
    args = parser.parse_args()
    for url in (getattr(args, "primary", ""), getattr(args, "backup", "")):
        if url and not url.startswith("http://127.0.0.1:"):
            sys.exit("loopback only")
    if args.cmd == "drive":
        drive(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()

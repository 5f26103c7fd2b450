#!/usr/bin/env python3
"""The gateway app's own CPU per call, in-process, before vs after a change (loopback only).

No uvicorn and no load generator: a child process per source tree builds the gateway
ASGI app as ``drux gateway`` does (``build_app``: host check included), then calls it
directly, one call after another, with a key whose rpm, tpm and budget are set high
(the whole limit path runs, nothing is refused); the upstream is the kit's fake
upstream over loopback, so the lean client's sockets are counted. The process's
CPU time (user + system, all threads: usage rows are written in a worker thread) is
divided by the calls. Children alternate before, after, after, before, ...; the
ratio is taken pair by pair. Far less noisy than end-to-end runs on a shared machine,
but it leaves out uvicorn's share and the client's.

  python bench/gateway/inproc_cpu.py --before /tmp/gw-before --after . \\
      --kit ../shared/bench/gateway --py /work/bench-venv/bin/python [--pairs 6] [-n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench as rb

BODY = {"model": "fake-gpt", "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}


async def _measure(n: int, key: str) -> dict[str, float]:
    import orjson

    from drux.cli.gateway import build_app

    app: Any = build_app()
    gateway = getattr(app, "app", app)  # inside HostCheck
    await gateway.startup()
    never = asyncio.Event()
    out = {}
    for name, stream in (("json", False), ("stream", True)):
        body = orjson.dumps({**BODY, "stream": stream})
        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                 "root_path": "", "query_string": b"", "http_version": "1.1", "scheme": "http",
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
                 "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer " + key.encode()),
                             (b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())]}

        async def call(body: bytes = body, scope: dict[str, Any] = scope) -> None:
            sent: list[dict[str, Any]] = []
            taken = False

            async def receive() -> dict[str, Any]:
                nonlocal taken
                if not taken:
                    taken = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await never.wait()  # no disconnect: the call runs to its end
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            await app(dict(scope), receive, send)
            if sent[0].get("status") != 200:
                raise SystemExit(f"gateway answered {sent[0]}")

        for _ in range(max(200, n // 10)):  # warm: routes, pools, the breakers' windows
            await call()
        cpu = time.process_time()
        for _ in range(n):
            await call()
        out[name] = (time.process_time() - cpu) / n * 1e6
    await gateway.shutdown()
    return out


def child(n: int) -> None:
    key = os.environ.pop("INPROC_KEY")
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_measure(n, key))
    else:
        result = uvloop.run(_measure(n, key))
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", help="source tree (a folder with src/); required")
    ap.add_argument("--after", help="required")
    ap.add_argument("--kit", default=str(rb.REPO.parent / "shared" / "bench" / "gateway"))
    ap.add_argument("--py", default=sys.executable, help="python for the fake upstream")
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("-n", type=int, default=3000, help="measured calls per kind and child")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if a.child:
        return child(a.n)
    if not (a.before and a.after):
        ap.error("--before and --after are required")
    a.warmup, a.limits = 1.0, True
    run = rb.Run(a)
    trees = {"before": Path(a.before).resolve() / "src", "after": Path(a.after).resolve() / "src"}
    rows: list[dict[str, Any]] = []
    try:
        run.start_upstream()
        text = (rb.HERE / "drux.toml.in").read_text().replace("@UP@", str(run.ports["up"]))
        (run.work / "drux.toml").write_text(text.replace("@DEAD@", str(run.ports["dead"])))
        env = {**os.environ, **run.drux_env(), "DRUX_HOST": "127.0.0.1",
               "PYTHONPATH": str(trees["after"])}
        key = subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", "keys",
                              "create", "bench", "--rpm", "1000000", "--tpm", "1000000000",
                              "--budget", "1000000"], env=env, check=True, capture_output=True,
                             text=True).stdout.strip()
        for pair in range(a.pairs):
            order = ("before", "after") if pair % 2 == 0 else ("after", "before")
            for tree in order:
                load = open("/proc/loadavg").read().split()[0]
                done = subprocess.run([sys.executable, __file__, "--child", "-n", str(a.n)],
                                      env={**env, "PYTHONPATH": str(trees[tree]), "INPROC_KEY": key},
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{tree} child failed: {done.stderr.strip()[-800:]}")
                row = {"pair": pair, "tree": tree, "load1": float(load),
                       **json.loads(done.stdout.strip().splitlines()[-1])}
                run.log(json.dumps(row))
                rows.append(row)
    finally:
        run.stop_all()
        rb.shutil.rmtree(run.work, ignore_errors=True)
    (run.out / "inproc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = summary(rows)
    (run.out / "summary.md").write_text(table + "\n")
    print(table)


def summary(rows: list[dict[str, Any]]) -> str:
    out = ["| call | before CPU us/call, median (min-max) | after | after / before per pair, "
           "median (min-max) |", "|---|---|---|---|"]
    for kind in ("json", "stream"):
        by: dict[str, dict[int, float]] = {"before": {}, "after": {}}
        for r in rows:
            by[r["tree"]][r["pair"]] = r[kind]
        pairs = sorted(set(by["before"]) & set(by["after"]))
        ratios = [by["after"][p] / by["before"][p] for p in pairs]
        cells = [f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
                 for v in (list(by["before"].values()), list(by["after"].values()))]
        out.append(f"| {kind} | {cells[0]} | {cells[1]} | {statistics.median(ratios):.2f} "
                   f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    return "\n".join(out)


if __name__ == "__main__":
    main()

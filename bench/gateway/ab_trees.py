#!/usr/bin/env python3
"""Gateway CPU per request, before vs after a change: two source trees in one run (loopback only).

Built on run_bench.py (its fake upstream, load generator and pausing): one
``drux gateway --workers 1`` per tree (``PYTHONPATH=<tree>/src``), cells measured
alternately with the other gateway paused, the order flipped every round, then
the after ÷ before ratio of server CPU ms per request, round by round. No LiteLLM.

  git archive <commit> | tar -x -C /tmp/gw-before
  python bench/gateway/ab_trees.py --before /tmp/gw-before --after . \\
      --drux .venv/bin/drux --py .venv/bin/python --kit /tmp/kit-copy [--swap-start] [--limits]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from types import TracebackType

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench as rb

SCENARIOS = {"d0": ("fake-gpt", False), "d50": ("fake-gpt-50", False), "stream": ("fake-gpt", True)}


class Trees(rb.Run):
    def __init__(self, a: argparse.Namespace, src: dict[str, str]) -> None:
        super().__init__(a)
        self.src = src

    def start_tree(self, name: str) -> None:
        text = (rb.HERE / "drux.toml.in").read_text()
        text = text.replace("@UP@", str(self.ports["up"])).replace("@DEAD@", str(self.ports["dead"]))
        (self.work / "drux.toml").write_text(text)
        env = {**self.drux_env(), "PYTHONPATH": self.src[name]}
        if "key" not in self.keys:
            # --limits: rpm, tpm and budget set high (none refuses), as run_bench.py --limits.
            limits = (["--rpm", "1000000", "--tpm", "1000000000", "--budget", "1000000"]
                      if self.a.limits else [])
            made = rb.subprocess.run([self.a.drux, "keys", "create", "bench", *limits], check=True,
                                     env={**os.environ, **env}, capture_output=True, text=True)
            self.keys["key"] = made.stdout.strip()
        self.keys[name] = self.keys["key"]
        port = self.ports[name] = rb.free_port()
        proc = self.start(name, [self.a.drux, "gateway", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], env)
        if not rb.wait_http(f"http://127.0.0.1:{port}/health", 60, proc):
            raise SystemExit(f"{name} did not start; see {self.out / (name + '.log')}")

    def only(self, target: str) -> _Paused:  # type: ignore[override]
        return _Paused([self.pids[g] for g in self.src if g != target and g in self.pids])


class _Paused:
    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def __enter__(self) -> None:
        for pid in self.pids:
            os.killpg(pid, signal.SIGSTOP)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for pid in self.pids:
            os.killpg(pid, signal.SIGCONT)


def summary(path: Path) -> str:
    cells: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        tree, name, c, rnd = row["label"].split("_")
        cells[(name, c)].setdefault(rnd, {})[tree] = row["server_cpu_ms_per_req"]
    out = ["| scenario | c | before CPU ms/req | after CPU ms/req | after ÷ before per round | median |",
           "|---|---|---|---|---|---|"]
    for (name, c), rounds in cells.items():
        keys = sorted(rounds)
        before = [rounds[k]["before"] for k in keys]
        after = [rounds[k]["after"] for k in keys]
        ratios = [x / y for x, y in zip(after, before, strict=True)]
        out.append(f"| {name} | {c[1:]} | {_joined(before, 3)} | {_joined(after, 3)} | "
                   f"{_joined(ratios, 2)} | {statistics.median(ratios):.2f} |")
    return "\n".join(out)


def _joined(values: list[float], digits: int) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="source tree (a folder with src/)")
    ap.add_argument("--after", required=True)
    ap.add_argument("--kit", default=str(rb.REPO.parent / "shared" / "bench" / "gateway"))
    ap.add_argument("--py", default=sys.executable, help="python with httptools and uvloop")
    ap.add_argument("--drux", default=str(rb.REPO / ".venv" / "bin" / "drux"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    ap.add_argument("--dur", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--scenarios", default="d0,d50,stream")
    ap.add_argument("--swap-start", action="store_true", help="start the after tree first")
    ap.add_argument("--limits", action="store_true",
                    help="the key has rpm, tpm and budget (set high: none is refused)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    a.workers = 1
    src = {"before": str(Path(a.before).resolve() / "src"), "after": str(Path(a.after).resolve() / "src")}
    run = Trees(a, src)
    try:
        run.start_upstream()
        for name in ("after", "before") if a.swap_start else ("before", "after"):
            run.start_tree(name)
        for tree in src:
            run.loadgen(f"warm_{tree}", tree, "fake-gpt", 4, False, 2, record=False)
            run.loadgen(f"warm_{tree}_s", tree, "fake-gpt", 2, True, 1, record=False)
        for r in range(a.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for name in a.scenarios.split(","):
                model, stream = SCENARIOS[name]
                for c in a.conc:
                    for tree in order:
                        run.loadgen(f"{tree}_{name}_c{c}_r{r}", tree, model, c, stream, a.dur)
    finally:
        run.stop_all()
        rb.shutil.rmtree(run.work, ignore_errors=True)
    table = summary(run.out / "loadgen.jsonl")
    (run.out / "summary.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()

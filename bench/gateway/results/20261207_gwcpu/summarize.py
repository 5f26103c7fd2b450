#!/usr/bin/env python3
"""Medians (min-max) of this folder's run_bench.py runs, per tree (before_rN/, after_rN/) and
concurrency: drux with memory limits, with Redis limits, LiteLLM, and the ratios of
throughput taken run by run. Usage: python summarize.py [FOLDER]"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent


def spread(values: list[float], fmt: str) -> str:
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def main() -> None:
    print("| tree | c | drux memory req/s · p50 ms · CPU ms/req | drux Redis req/s · p50 ms · "
          "CPU ms/req | LiteLLM req/s · p50 ms | memory / LiteLLM | Redis / LiteLLM | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for tree in ("before", "after"):
        for c in (1, 32):
            got: dict[str, list[dict[str, float]]] = {"drux": [], "drux_redis": [], "litellm": []}
            ratios: dict[str, list[float]] = {"drux": [], "drux_redis": []}
            for run in sorted(HERE.glob(f"{tree}_r*")):
                if not (run / "loadgen.jsonl").exists():
                    continue  # still running, or failed
                rows = {}
                for line in (run / "loadgen.jsonl").read_text().splitlines():
                    row = json.loads(line)
                    rows[row["label"]] = row
                lite = rows.get(f"litellm_d0_c{c}")
                for target in got:
                    if row := rows.get(f"{target}_d0_c{c}"):
                        got[target].append(row)
                        if lite and target in ratios:
                            ratios[target].append(row["rps"] / lite["rps"])
            if not got["drux"]:
                continue

            def cell(rows: list[dict[str, float]], cpu: bool = True) -> str:
                text = (f"{statistics.median(r['rps'] for r in rows):.0f} · "
                        f"{statistics.median(r['p50_ms'] for r in rows):.2f}")
                if cpu:
                    text += f" · {statistics.median(r['server_cpu_ms_per_req'] for r in rows):.2f}"
                return text

            print(f"| {tree} | {c} | {cell(got['drux'])} | {cell(got['drux_redis'])} | "
                  f"{cell(got['litellm'], cpu=False)} | {spread(ratios['drux'], '{:.0f}x')} | "
                  f"{spread(ratios['drux_redis'], '{:.0f}x')} | {len(got['drux'])} |")


if __name__ == "__main__":
    main()

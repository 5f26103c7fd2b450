#!/usr/bin/env python3
"""Medians (and min-max) of a results folder's runs: limits_bench A/B (before_N.json /
after_N.json) and the LiteLLM comparison (litellm_wW_rN/ or wW_rN/ loadgen.jsonl).
Usage: python summarize_ab.py [FOLDER] (default: this script's folder)."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent


def spread(values: list[float], fmt: str = "{:.3f}") -> str:
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def limits() -> None:
    print("| workers | code | memory p50 ms | Redis p50 ms | Redis adds (median of per-pair) |"
          " req/s memory · Redis | server CPU ms/call memory · Redis | rounds |")
    print("|---|---|---|---|---|---|---|---|")
    for workers in (1, 2):
        for side in ("before", "after"):
            rows = [r for f in sorted(HERE.glob(f"{side}_*.json"))
                    for r in json.loads(f.read_text()) if r["workers"] == workers]
            mem = [r for r in rows if r["label"] == "memory"]
            red = [r for r in rows if r["label"] == "redis"]
            # each Redis round against the memory round just before it (same moment)
            added = [float(b["p50_ms"]) - float(a["p50_ms"]) for a, b in zip(mem, red, strict=True)]
            print(f"| {workers} | {side} | {spread([r['p50_ms'] for r in mem])} | "
                  f"{spread([r['p50_ms'] for r in red])} | "
                  f"{statistics.median(added):+.3f} ({min(added):+.3f} to {max(added):+.3f}) | "
                  f"{statistics.median(r['rps'] for r in mem):.0f} · "
                  f"{statistics.median(r['rps'] for r in red):.0f} | "
                  f"{statistics.median(r['server_cpu_ms_per_req'] for r in mem):.2f} · "
                  f"{statistics.median(r['server_cpu_ms_per_req'] for r in red):.2f} | "
                  f"{len(red)} |")


def litellm() -> None:
    print("\n| workers | c | drux memory req/s · p50 | drux Redis req/s · p50 | "
          "LiteLLM req/s · p50 | drux Redis / LiteLLM: median (min-max) | runs |")
    print("|---|---|---|---|---|---|---|")
    for workers in (1, 2):
        for c in (1, 32):
            got: dict[str, list[dict[str, float]]] = {"drux": [], "drux_redis": [],
                                                     "litellm": []}
            ratios = []
            runs = sorted(HERE.glob(f"litellm_w{workers}_r*")) or sorted(HERE.glob(f"w{workers}_r*"))
            for run in runs:
                rows = {}
                for line in (run / "loadgen.jsonl").read_text().splitlines():
                    row = json.loads(line)
                    rows[row["label"]] = row
                for target in got:
                    row = rows.get(f"{target}_d0_c{c}")
                    if row:
                        got[target].append(row)
                a, b = rows.get(f"drux_redis_d0_c{c}"), rows.get(f"litellm_d0_c{c}")
                if a and b:
                    ratios.append(a["rps"] / b["rps"])
            if not ratios:
                continue
            cells = [f"{statistics.median(r['rps'] for r in got[t]):.0f} · "
                     f"{statistics.median(r['p50_ms'] for r in got[t]):.2f} ms" for t in got]
            print(f"| {workers} | {c} | {' | '.join(cells)} | "
                  f"{spread(ratios, '{:.0f}x')} | {len(ratios)} |")


if __name__ == "__main__":
    if any(HERE.glob("before_*.json")):
        limits()
    litellm()

#!/usr/bin/env python3
"""p50 latency, req/s and gateway CPU per call of ab_trees.py runs, before vs after, round by
round (ab_trees.py's own table gives CPU only). Usage: python ab_latency.py FOLDER..."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    print("| run | rounds | p50 ms before · after (medians) | after ÷ before p50, per round |"
          " req/s before · after | gateway CPU ms/call before · after |")
    print("|---|---|---|---|---|---|")
    for folder in map(Path, sys.argv[1:]):
        rows = {}
        for line in (folder / "loadgen.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[row["label"]] = row
        rounds = sorted({label.rsplit("_r", 1)[1] for label in rows if "_c1_r" in label})
        b = [rows[f"before_d0_c1_r{r}"] for r in rounds]
        a = [rows[f"after_d0_c1_r{r}"] for r in rounds]
        ratios = " / ".join(f"{x['p50_ms'] / y['p50_ms']:.2f}" for x, y in zip(a, b, strict=True))

        def med(side: list[dict[str, float]], key: str) -> float:
            return statistics.median(r[key] for r in side)

        print(f"| {folder.name} | {len(rounds)} | {med(b, 'p50_ms'):.3f} · {med(a, 'p50_ms'):.3f} |"
              f" {ratios} | {med(b, 'rps'):.0f} · {med(a, 'rps'):.0f} |"
              f" {med(b, 'server_cpu_ms_per_req'):.3f} · {med(a, 'server_cpu_ms_per_req'):.3f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The LiteLLM comparison of this folder (wW_rN/loadgen.jsonl from run_bench.py): medians,
the drux-with-Redis ÷ LiteLLM req/s ratio with one decimal (the goal is 20x, so 19.6x and
20.4x must not both read "20x"), and each run's figures. Usage: python summarize.py [FOLDER]."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent
TARGETS = ("drux", "drux_redis", "litellm")


def load(run: Path) -> dict[str, dict[str, float]]:
    rows = {}
    for line in (run / "loadgen.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows[row["label"]] = row
    return rows


def main() -> None:
    print("| workers | c | drux memory req/s · p50 | drux Redis req/s · p50 | LiteLLM req/s · p50 |"
          " drux Redis ÷ LiteLLM: median (min-max) | runs at >= 20x | runs |")
    print("|---|---|---|---|---|---|---|---|")
    per_run = []
    for workers in (1, 2):
        for c in (1, 32):
            got: dict[str, list[dict[str, float]]] = {t: [] for t in TARGETS}
            ratios = []
            for run in sorted(HERE.glob(f"w{workers}_r*"), key=lambda p: int(p.name.split("_r")[1])):
                rows = load(run)
                cells = [rows.get(f"{t}_d0_c{c}") for t in TARGETS]
                if not all(cells):
                    continue
                for t, row in zip(TARGETS, cells, strict=True):
                    got[t].append(row)  # type: ignore[arg-type]
                ratio = cells[1]["rps"] / cells[2]["rps"]  # type: ignore[index]
                ratios.append(ratio)
                per_run.append(f"w{workers} c={c} {run.name}: req/s " + " / ".join(
                    f"{row['rps']:.0f}" for row in cells if row) + f" -> {ratio:.1f}x")
            if not ratios:
                continue
            cells_md = [f"{statistics.median(r['rps'] for r in got[t]):.0f} · "
                        f"{statistics.median(r['p50_ms'] for r in got[t]):.2f} ms" for t in TARGETS]
            print(f"| {workers} | {c} | {' | '.join(cells_md)} | "
                  f"**{statistics.median(ratios):.1f}x** ({min(ratios):.1f}x-{max(ratios):.1f}x) | "
                  f"{sum(r >= 20 for r in ratios)} of {len(ratios)} | {len(ratios)} |")
    print("\nPer run (req/s drux memory / drux Redis / LiteLLM):")
    for line in per_run:
        print("- " + line)


if __name__ == "__main__":
    main()

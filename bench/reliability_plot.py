"""Reliability plot of the Consensus Score on the agreement dev split (bench/reliability.png).

    PYTHONPATH=src .venv/bin/python scripts/fit_calibration.py --reliability /tmp/rel.json
    PYTHON_WITH_MATPLOTLIB bench/reliability_plot.py /tmp/rel.json bench/reliability.png

Reads the bins that scripts/fit_calibration.py stores (raw score, and the chosen map
under question-grouped cross-validation) and draws one panel per task. matplotlib
is needed here only (it is not a drux dependency); this script imports nothing of
drux, so any Python with matplotlib runs it.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(source.read_text(encoding="utf-8"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharey=True)
    for ax, task in zip(axes, ("sets", "pairs"), strict=True):
        ax.plot([0, 100], [0, 100], color="#999", linestyle="--", linewidth=1, label="perfect")
        for which, colour in (("raw", "#d95f02"), ("calibrated", "#1b9e77")):
            bins = data["bins"][f"{task} {which}"]
            ece = data["rows"]["raw" if which == "raw" else data["chosen"]][f"ece_{task}"]
            xs = [100 * b[0] for b in bins]
            ys = [100 * b[1] for b in bins]
            label = (f"raw score, ECE {ece:.3f}" if which == "raw"
                     else f"calibrated ({data['chosen']}, grouped CV), ECE {ece:.3f}")
            ax.plot(xs, ys, color=colour, linewidth=1.5, label=label)
            ax.scatter(xs, ys, s=[max(8, b[2] / 3) for b in bins], color=colour, alpha=0.7)
        ax.set_title(f"dev {task}")
        ax.set_xlabel("Consensus Score (mean in bin)")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("% of items whose answers agree")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.suptitle("Consensus Score reliability, agreement benchmark dev split, 10 equal bins "
                 f"(marker area ~ items)\n{platform.machine()} {platform.system()}, {stamp}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()

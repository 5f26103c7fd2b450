#!/usr/bin/env python3
"""Turn one results/run_* folder of run_bench.py into summary.md.

Usage: python bench/gateway/summarize.py bench/gateway/results/run_YYYYmmdd_HHMMSS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GATEWAYS = ("drux", "litellm")


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, int | float):
        return f"{x:,.{nd}f}"
    return str(x)


def sub(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else a - b


def non_2xx(r: dict[str, Any]) -> str:
    bad = r.get("requests", 0) - r.get("ok_2xx", 0)
    errs = sum(r.get("errors", {}).values())
    return f" ({bad} non-2xx)" if bad else (f" ({errs} errors)" if errs else "")


def load_table(rows: dict[str, dict[str, Any]], scen: str, concs: list[int]) -> list[str]:
    out = ["| c | direct rps · p50/p99 ms | drux rps · p50/p99 ms | drux added p50/p99 ms "
           "| drux CPU ms/req | LiteLLM rps · p50/p99 ms | LiteLLM added p50/p99 ms "
           "| LiteLLM CPU ms/req | drux ÷ LiteLLM rps |", "|---|---|---|---|---|---|---|---|---|"]
    for c in concs:
        d = rows.get(f"direct_{scen}_c{c}", {})
        cells = [str(c), f"{fmt(d.get('rps'), 0)} · {fmt(d.get('p50_ms'), 2)}/{fmt(d.get('p99_ms'), 2)}"]
        for gw in GATEWAYS:
            g = rows.get(f"{gw}_{scen}_c{c}", {})
            cells.append(f"{fmt(g.get('rps'), 0)}{non_2xx(g) if g else ''} · "
                         f"{fmt(g.get('p50_ms'), 2)}/{fmt(g.get('p99_ms'), 2)}")
            cells.append(f"{fmt(sub(g.get('p50_ms'), d.get('p50_ms')), 2)}/"
                         f"{fmt(sub(g.get('p99_ms'), d.get('p99_ms')), 2)}")
            cells.append(fmt(g.get("server_cpu_ms_per_req"), 2))
        x, y = rows.get(f"drux_{scen}_c{c}", {}).get("rps"), rows.get(f"litellm_{scen}_c{c}", {}).get("rps")
        cells.append(f"{x / y:.1f}x" if x and y else "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def stream_table(rows: dict[str, dict[str, Any]], concs: list[int]) -> list[str]:
    out = ["| c | direct TTFC p50/p99 ms | drux TTFC p50/p99 ms | drux added TTFC p50 ms | drux rps "
           "| LiteLLM TTFC p50/p99 ms | LiteLLM added TTFC p50 ms | LiteLLM rps | drux ÷ LiteLLM rps |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in concs:
        d = rows.get(f"direct_stream_c{c}", {})
        cells = [str(c), f"{fmt(d.get('ttfc_p50_ms'), 2)}/{fmt(d.get('ttfc_p99_ms'), 2)}"]
        for gw in GATEWAYS:
            g = rows.get(f"{gw}_stream_c{c}", {})
            cells += [f"{fmt(g.get('ttfc_p50_ms'), 2)}/{fmt(g.get('ttfc_p99_ms'), 2)}",
                      fmt(sub(g.get("ttfc_p50_ms"), d.get("ttfc_p50_ms")), 2),
                      fmt(g.get("rps"), 0) + (non_2xx(g) if g else "")]
        x, y = rows.get(f"drux_stream_c{c}", {}).get("rps"), rows.get(f"litellm_stream_c{c}", {}).get("rps")
        cells.append(f"{x / y:.1f}x" if x and y else "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def fallback_table(run: Path) -> list[str]:
    out = ["| gateway | scenario | statuses | answered by | 1st request ms | median ms "
           "| dead-primary hits per request (first 10) | burst rps · p50/p99 ms | burst dead-primary hits |",
           "|---|---|---|---|---|---|---|---|---|"]
    for gw in GATEWAYS:
        path = run / f"fallback_{gw}.json"
        if not path.exists():
            continue
        for s in json.loads(path.read_text()):
            hits = s["primary_hits_per_req"][:10]
            b = s["burst"]
            out.append(f"| {gw} | {s['scenario']} | {s['statuses']} | {', '.join(s['answered_by'])} "
                       f"| {fmt(s['first_ms'])} | {fmt(s['median_ms'])} "
                       f"| {','.join(str(h) for h in hits) if hits else 'n/a'} "
                       f"| {fmt(b['rps'])} · {fmt(b['p50_ms'])}/{fmt(b['p99_ms'])} "
                       f"| {b['primary_hits'] if b['primary_hits'] is not None else 'n/a'} |")
    return out


def sdk_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    out = ["| scenario | drux (lean) rps · p50 ms · CPU ms/req | drux (SDK) rps · p50 ms · CPU ms/req "
           "| lean ÷ SDK rps |", "|---|---|---|---|"]
    for label in sorted(k[len("drux_sdk_"):] for k in rows if k.startswith("drux_sdk_")):
        lean, sdk = rows.get(f"drux_{label}", {}), rows[f"drux_sdk_{label}"]
        cells = [label] + [f"{fmt(r.get('rps'), 0)} · {fmt(r.get('p50_ms'), 2)} · "
                           f"{fmt(r.get('server_cpu_ms_per_req'), 2)}" for r in (lean, sdk)]
        x, y = lean.get("rps"), sdk.get("rps")
        cells.append(f"{x / y:.1f}x" if x and y else "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def main(run: Path) -> None:
    rows = {}
    for line in (run / "loadgen.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows[r["label"]] = r
    concs = sorted({int(k.rsplit("_c", 1)[1]) for k in rows})
    versions = json.loads((run / "versions.json").read_text())
    out = [f"# Gateway benchmark {run.name}", "", "```", json.dumps(versions, indent=1), "```", "",
           "## Non-streaming, upstream 0 ms", *load_table(rows, "d0", concs), "",
           "## Non-streaming, upstream 50 ms", *load_table(rows, "d50", concs), "",
           "## Streaming: time to first content chunk (TTFC)", *stream_table(rows, concs), "",
           "## Failing primary (kit's fallback drill)", *fallback_table(run), ""]
    if any(k.startswith("drux_sdk_") for k in rows):
        out += ["## drux with the openai SDK adapter (lean OpenAI-wire client off)", *sdk_table(rows)]
    text = "\n".join(out)
    (run / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

#!/bin/bash
# drux (memory and Redis limits) vs LiteLLM's proxy, JSON, no upstream delay, 4 s per target,
# run_bench.py's options as in bench/RESULTS.md, one run_bench.py per run.
#   bench/gateway/vs_litellm.sh OUT WORKERS:CONC:RUNS [...]
# e.g. vs_litellm.sh bench/gateway/results/DATE_x 1:1:7 2:1:3 1:32:2 2:32:2
# Runs are numbered per worker count (OUT/w1_r1 ... w1_rN, w2_r1 ...), as
# results/20261207_gwhop/summarize.py reads them. Loopback only; needs the kit at
# ../shared/bench/gateway and LiteLLM in /work/bench-venv (see bench/gateway/README.md).
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd -P)  # run_bench.py starts its servers in a temp folder: absolute paths
OUT=$1; shift
declare -A next=()
for spec in "$@"; do
  IFS=: read -r workers conc runs <<< "$spec"
  for _ in $(seq "$runs"); do
    n=$(( ${next[$workers]:-0} + 1 )); next[$workers]=$n
    dir="$OUT/w${workers}_r$n"
    echo "=== w${workers}_r$n workers $workers c=$conc $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH="$ROOT/src" "$ROOT/.venv/bin/python" bench/gateway/run_bench.py \
      --kit "$ROOT/../shared/bench/gateway" --py /work/bench-venv/bin/python \
      --drux "$ROOT/.venv/bin/drux" --workers "$workers" --conc "$conc" --scenarios d0 --dur 4 \
      --limits --redis --skip-fallback --out "$dir" 2>&1 | tail -1
    rm -f "$dir"/*.log.gz; find "$dir" -name '*.log' ! -name commands.log -delete
  done
done
echo "=== done $(date -u +%T)"

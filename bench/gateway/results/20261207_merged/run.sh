#!/bin/bash
# drux with Redis limits vs LiteLLM's proxy on main after quota leases (h/lease) and the
# gateway CPU cuts (h/gwcpu) merged: 1 and 2 workers interleaved, 3 repetitions, c=1 and c=32,
# JSON calls, no upstream delay, on a quiet machine (no other job of ours running).
cd /work/main
OUT=bench/gateway/results/20261207_merged
for r in 1 2 3; do
  for w in 1 2; do
    echo "=== workers $w repetition $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH=/work/main/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
      --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
      --drux /work/main/.venv/bin/drux --workers $w --conc 1,32 --scenarios d0 --dur 4 \
      --limits --redis --skip-fallback --out $OUT/w${w}_r$r 2>&1 | tail -3
  done
done
echo DONE
# then four more one-worker repetitions at c=1 only (w1c1_r4..r7), to firm up that cell
for r in 4 5 6 7; do
  echo "=== workers 1 c=1 repetition $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=/work/main/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
    --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
    --drux /work/main/.venv/bin/drux --workers 1 --conc 1 --scenarios d0 --dur 4 \
    --limits --redis --skip-fallback --out $OUT/w1c1_r$r 2>&1 | tail -1
done

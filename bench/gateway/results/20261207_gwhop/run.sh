#!/bin/bash
# drux (h/gwhop) with Redis limits vs LiteLLM's proxy: one worker at c=1 (the cell issue 11
# judges), 7 repetitions, then 2 workers c=1 and c=32 for 3 repetitions; JSON, no upstream
# delay, 4 s per target. Run in the quiet window (07:05-07:40 UTC).
cd /work/wt/gwhop
OUT=bench/gateway/results/20261207_gwhop
run() {  # workers conc folder
  echo "=== workers $1 c=$2 $3 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=/work/wt/gwhop/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
    --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
    --drux /work/main/.venv/bin/drux --workers $1 --conc $2 --scenarios d0 --dur 4 \
    --limits --redis --skip-fallback --out $OUT/$3 2>&1 | tail -1
}
for r in 1 2 3 4 5 6 7; do run 1 1 w1_r$r; done
for r in 1 2 3; do run 2 1,32 w2_r$r; done
echo DONE

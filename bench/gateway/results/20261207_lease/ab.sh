#!/bin/bash
# limits_bench.py: main's code (before) and this branch's (after, quota leases), interleaved.
cd /work/wt/lease
OUT=bench/gateway/results/20261207_lease
for r in ${ROUNDS:-1 2 3}; do
  for side in before after; do
    if [ $side = before ]; then SRC=/work/main/src; else SRC=/work/wt/lease/src; fi
    echo "=== $side round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH=$SRC /work/main/.venv/bin/python bench/gateway/limits_bench.py \
      --kit /work/shared/bench/gateway --workers 1 2 --rounds 3 --seconds 5 \
      --json $OUT/${side}_$r.json 2>&1 | tail -6
  done
done
echo DONE

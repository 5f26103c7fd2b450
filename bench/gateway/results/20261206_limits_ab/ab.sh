#!/bin/bash
cd /work/wt/gwperf
for r in 1 2; do
  for side in before after; do
    if [ $side = before ]; then SRC=/work/main/src; else SRC=/work/wt/gwperf/src; fi
    echo "=== $side round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH=$SRC /work/main/.venv/bin/python bench/gateway/limits_bench.py --kit /work/shared/bench/gateway --workers 1 2 --rounds 3 --seconds 5 --json /tmp/gwperf_bench/${side}_$r.json 2>&1 | tail -8
  done
done
echo DONE

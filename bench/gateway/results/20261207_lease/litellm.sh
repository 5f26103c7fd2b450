#!/bin/bash
# run_bench.py --limits --redis (drux memory, drux Redis, LiteLLM's proxy), main's code (before)
# and this branch's (after, quota leases) interleaved, 1 and 2 workers, 2 repetitions, c=1 and
# c=32, JSON calls, no upstream delay. PYTHONPATH picks the drux sources the gateways run.
cd /work/wt/lease
OUT=bench/gateway/results/20261207_lease
for r in 1 2; do
  for w in 1 2; do
    for side in before after; do
      if [ $side = before ]; then SRC=/work/main/src; else SRC=/work/wt/lease/src; fi
      echo "=== $side workers $w repetition $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
      PYTHONPATH=$SRC /work/main/.venv/bin/python bench/gateway/run_bench.py \
        --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
        --drux /work/main/.venv/bin/drux --workers $w --conc 1,32 --scenarios d0 --dur 4 \
        --limits --redis --skip-fallback --out $OUT/litellm_$side/litellm_w${w}_r$r 2>&1 | tail -3
    done
  done
done
echo DONE

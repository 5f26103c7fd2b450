#!/bin/bash
# drux (this branch) with limits in memory and on Redis vs LiteLLM's proxy, 1 and 2 workers
# interleaved, 3 repetitions; c=1 and c=32, JSON calls, no upstream delay.
cd /work/wt/redislean
OUT=bench/gateway/results/20261207_redislean
for r in 1 2 3; do
  for w in 1 2; do
    echo "=== workers $w repetition $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH=/work/wt/redislean/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
      --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
      --drux /work/main/.venv/bin/drux --workers $w --conc 1,32 --scenarios d0 --dur 4 \
      --limits --redis --skip-fallback --out $OUT/litellm_w${w}_r$r 2>&1 | tail -3
  done
done
echo DONE

#!/bin/bash
# drux with Redis limits vs LiteLLM's proxy again, main after the leaner reservation merged, on a
# quieter machine than 20261207_redislean (no training job): 1 and 2 workers interleaved, 3
# repetitions, c=1 and c=32, JSON calls, no upstream delay.
cd /work/main
OUT=bench/gateway/results/20261207_litellm_quiet
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

#!/bin/bash
# drux with Redis limits vs LiteLLM's proxy on main with h/gwhop merged (e50ac6e), JSON, no
# upstream delay, 4 s per target, on a quiet machine (nothing else of ours running): one worker
# at c=1 seven times (w1_rN), then two workers at c=1 three times (w2_rN).
cd /work/main
OUT=bench/gateway/results/20261207_main14
run() {  # workers conc folder
  echo "=== $3 workers $1 c=$2 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=/work/main/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
    --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
    --drux /work/main/.venv/bin/drux --workers $1 --conc $2 --scenarios d0 --dur 4 \
    --limits --redis --skip-fallback --out $OUT/$3 2>&1 | tail -1
  rm -f $OUT/$3/*.log.gz; find $OUT/$3 -name '*.log' ! -name commands.log -delete
}
for r in 1 2 3 4 5 6 7; do run 1 1 w1_r$r; done
for r in 1 2 3; do run 2 1 w2_r$r; done
echo "=== done $(date -u +%T)"

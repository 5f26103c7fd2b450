#!/bin/bash
# drux with Redis limits vs LiteLLM's proxy, JSON, no upstream delay, 4 s per target, in the
# quiet window (07:05-07:40 UTC): one worker at c=1 (the cell issue 11 judges) 7 times on
# h/gwhop (w1_rN), interleaved with 4 runs of the tree before (4a17cb3, before/w1_rN); then
# 2 workers at c=1 and c=32, 3 times (w2_rN), and once on the tree before (before/w2_r1).
# OUT=... puts the folders elsewhere (early/: the same, run at 06:36 before the window).
cd /work/wt/gwhop
OUT=${OUT:-bench/gateway/results/20261207_gwhop}
run() {  # tree workers conc folder
  echo "=== $4 ($1) workers $2 c=$3 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=$1/src /work/main/.venv/bin/python bench/gateway/run_bench.py \
    --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
    --drux /work/main/.venv/bin/drux --workers $2 --conc $3 --scenarios d0 --dur 4 \
    --limits --redis --skip-fallback --out $OUT/$4 2>&1 | tail -1
  rm -f $OUT/$4/*.log.gz; find $OUT/$4 -name '*.log' ! -name commands.log -delete
}
for r in 1 2 3 4 5 6 7; do
  run /work/wt/gwhop 1 1 w1_r$r
  if [ $((r % 2)) = 1 ]; then run /tmp/gwhop-before 1 1 before/w1_r$(((r + 1) / 2)); fi
done
for r in 1 2 3; do
  run /work/wt/gwhop 2 1,32 w2_r$r
  if [ $r = 1 ]; then run /tmp/gwhop-before 2 1,32 before/w2_r1; fi
done
echo "=== done $(date -u +%T)"

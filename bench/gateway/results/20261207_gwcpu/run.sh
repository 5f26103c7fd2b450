#!/bin/bash
# Gateway CPU per call, before (09f789e, the base of h/gwcpu, exported with git archive to
# /tmp/gwcpu-before; its gateway code is that of main at 8913bce) vs after (h/gwcpu), 1 worker,
# the key's limits on. 1) ab_trees.py: CPU ms per request, cells alternating, twice (the second
# with the start order swapped); 2) run_bench.py --limits --redis with LiteLLM's proxy, before
# and after interleaved (b a b a b a), c=1 and c=32, JSON, no upstream delay.
cd /work/wt/gwcpu
OUT=bench/gateway/results/20261207_gwcpu
PY=/work/main/.venv/bin/python
COMMON="--kit /work/shared/bench/gateway --py /work/bench-venv/bin/python --drux /work/main/.venv/bin/drux"
load() { echo "=== $1 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
load "ab_trees 1"
$PY bench/gateway/ab_trees.py --before /tmp/gwcpu-before --after . $COMMON --limits --rounds 4 \
  --conc 1,32 --scenarios d0,stream --out $OUT/ab1 2>&1 | tail -6
load "ab_trees 2 (swapped start)"
$PY bench/gateway/ab_trees.py --before /tmp/gwcpu-before --after . $COMMON --limits --rounds 4 \
  --conc 1,32 --scenarios d0,stream --swap-start --out $OUT/ab2 2>&1 | tail -6
for r in 1 2 3; do
  for tree in before after; do
    src=/work/wt/gwcpu/src; [ $tree = before ] && src=/tmp/gwcpu-before/src
    load "run_bench $tree repetition $r"
    PYTHONPATH=$src $PY bench/gateway/run_bench.py $COMMON --workers 1 --conc 1,32 --scenarios d0 \
      --dur 4 --limits --redis --skip-fallback --out $OUT/${tree}_r$r 2>&1 | tail -2
  done
done
load DONE

#!/bin/bash
# Gateway before (4a17cb3, `git archive` to /tmp/gwhop-before) vs after (h/gwhop): end-to-end
# A/B at c=1, JSON, key limits in memory, then with the limits on a throwaway Redis
# (redis-server --port 6391 --save '' --appendonly no, started by hand in /tmp/gwhop-redis).
cd /work/wt/gwhop
OUT=bench/gateway/results/20261207_gwhop
for mode in memory redis; do
  echo "=== ab $mode $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $mode = redis ]; then export DRUX_REDIS_URL=redis://127.0.0.1:6391/0; fi
  /work/main/.venv/bin/python bench/gateway/ab_trees.py --before /tmp/gwhop-before --after . \
    --kit /work/shared/bench/gateway --py /work/bench-venv/bin/python \
    --drux /work/main/.venv/bin/drux --limits --rounds 4 --conc 1 --scenarios d0 \
    --out $OUT/ab_$mode 2>&1 | tail -3
done
unset DRUX_REDIS_URL

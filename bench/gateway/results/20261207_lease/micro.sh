#!/bin/bash
# reserve_micro.py, main's code (before) and this branch's (after) interleaved, 3 rounds, on a
# throwaway redis-server (port in $1; flushed and its command stats reset before each run).
cd /work/wt/lease
P=$1
for r in 1 2 3; do
  for side in before after; do
    if [ $side = before ]; then SRC=/work/main/src; else SRC=/work/wt/lease/src; fi
    redis-cli -p $P flushall >/dev/null; redis-cli -p $P config resetstat >/dev/null
    echo "=== $side round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH=$SRC /work/main/.venv/bin/python bench/gateway/reserve_micro.py redis://127.0.0.1:$P/0
    redis-cli -p $P info commandstats | grep evalsha
  done
done

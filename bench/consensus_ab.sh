#!/bin/bash
# Consensus speed, before vs after, alternating: bench/consensus.py from each tree in turn.
#   git archive <commit> src bench | tar -x -C /tmp/before
#   bench/consensus_ab.sh /tmp/before OUT_DIR [ROUNDS] [extra bench/consensus.py args]
BEFORE=$1; OUT=$2; ROUNDS=${3:-3}; if [ $# -ge 3 ]; then shift 3; else shift $#; fi
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$HERE/.venv/bin/python}
mkdir -p "$OUT"
for r in $(seq "$ROUNDS"); do
  for t in before after; do
    if [ $t = before ]; then ROOT=$BEFORE; else ROOT=$HERE; fi
    echo "=== $t round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/log"
    PYTHONPATH=$ROOT/src "$PY" "$ROOT/bench/consensus.py" --runs 11 "$@" 2>&1 | tee -a "$OUT/log" \
      | grep -E "backend,|fresh texts"
  done
done

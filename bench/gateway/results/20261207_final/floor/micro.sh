#!/bin/bash
# Server CPU per call at c=1 for the same fixed JSON answer, three ways (loopback only):
#   uvicorn: results/20261207_gwhop/trivial_app.py served by drux gateway's protocol
#            (drux.gateway.serving:OneWriteProtocol), no proxy headers;
#   asgi:    asgi_min.py, a minimal httptools protocol keeping ASGI's shape (scope, a task per
#            request, receive/send, head and body in one write);
#   raw:     raw_server.py, httptools and a fixed answer, no ASGI.
# The kit's loadgen.py at c=1 against each in turn, three rounds. Measurement only: neither
# asgi_min.py nor raw_server.py is product code.
cd "$(dirname "$0")"
ROOT=$(cd ../../../../.. && pwd)
PY=$ROOT/.venv/bin/python
KIT=$ROOT/../shared/bench/gateway
PYTHONPATH=$ROOT/src $PY -c "
import runpy, sys, uvicorn
sys.argv = ['x', '39301', 'drux.gateway.serving:OneWriteProtocol']
ns = runpy.run_path('../../20261207_gwhop/trivial_app.py')
uvicorn.run(ns['app'], host='127.0.0.1', port=39301, http=sys.argv[2], loop='uvloop',
            access_log=False, log_level='warning', lifespan='off', proxy_headers=False)" & A=$!
$PY asgi_min.py 39302 & B=$!
$PY raw_server.py 39303 & C=$!
for p in 39301 39302 39303; do  # wait for each to listen, bounded
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
echo "server rps p50_ms server_cpu_ms/req  ($(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in 1 2 3; do
  for p in "uvicorn 39301 $A" "asgi 39302 $B" "raw 39303 $C"; do
    set -- $p
    /work/bench-venv/bin/python $KIT/loadgen.py --url http://127.0.0.1:$2/v1/chat/completions \
      -c 1 -d 3 --warmup 0.5 --watch-pid $3 |
      $PY -c "import json,sys; d=json.load(sys.stdin); print('$1', d['rps'], d['p50_ms'], d['server_cpu_ms_per_req'])"
  done
done
kill $A $B $C

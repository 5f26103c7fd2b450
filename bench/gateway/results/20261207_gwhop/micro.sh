#!/bin/bash
# A trivial ASGI app answering a fixed JSON body (trivial_app.py), served by uvicorn's httptools
# protocol (port 39201) and by drux's OneWriteProtocol (39202), loadgen c=1 against each in turn.
cd "$(dirname "$0")"
PYTHONPATH=/work/wt/gwhop/src /work/main/.venv/bin/python trivial_app.py 39201 httptools & A=$!
PYTHONPATH=/work/wt/gwhop/src /work/main/.venv/bin/python trivial_app.py 39202 \
  drux.gateway.serving:OneWriteProtocol & B=$!
sleep 3
echo "protocol rps p50_ms server_cpu_ms/req client_cpu_s foreign_cpu_pct  ($(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in 1 2 3 4 5 6; do
  for p in "httptools 39201 $A" "one-write 39202 $B"; do
    set -- $p
    /work/bench-venv/bin/python /work/shared/bench/gateway/loadgen.py \
      --url http://127.0.0.1:$2/v1/chat/completions -c 1 -d 3 --warmup 0.5 --watch-pid $3 |
      /work/main/.venv/bin/python -c "import json,sys; d=json.load(sys.stdin); print('$1', d['rps'], d['p50_ms'], d['server_cpu_ms_per_req'], d['client_cpu_s'], d['foreign_cpu_pct'])"
  done
done
kill $A $B

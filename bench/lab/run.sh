#!/bin/sh
# Loopback measurements for the lab's note. Run from the repository root:
#   sh bench/lab/run.sh
# Needs python3 (standard library only) and a release build.
set -eu
cargo build --release -q
BIN=target/release/wsdoctor
PY=bench/lab/ws_client.py
ulimit -n 20000 2>/dev/null || true

echo "== RSS of serve holding 10,000 idle connections"
$BIN serve --listen 127.0.0.1:9101 --no-greeting >/dev/null 2>&1 &
SERVE=$!
sleep 0.5
echo "idle RSS: $(grep VmRSS /proc/$SERVE/status)"
python3 $PY hold ws://127.0.0.1:9101/ws 10000 &
HOLD=$!
# Wait until all are open, then let the allocator settle.
for i in $(seq 1 120); do
  n=$(ls /proc/$SERVE/fd | wc -l)
  [ "$n" -ge 10000 ] && break
  sleep 0.5
done
sleep 2
echo "fds open in serve: $(ls /proc/$SERVE/fd | wc -l)"
echo "with 10,000 connections: $(grep VmRSS /proc/$SERVE/status)"
kill $HOLD
sleep 1

echo "== Echo round trip, direct and through the lab proxy (10,000 each)"
$BIN lab --listen 127.0.0.1:9102 --upstream ws://127.0.0.1:9101 >/dev/null 2>&1 &
LAB=$!
sleep 0.5
python3 $PY rtt ws://127.0.0.1:9101/ws 1000 >/dev/null   # warm-up
echo "direct:        $(python3 $PY rtt ws://127.0.0.1:9101/ws 10000)"
echo "through proxy: $(python3 $PY rtt ws://127.0.0.1:9102/ws 10000)"
kill $LAB $SERVE

#!/usr/bin/env bash
# What sampling this machine's listen queues costs `load` (a target on this
# machine: every listen queue is dumped over sock_diag every 5 ms through
# the ramp). Runs a slow ramp against python-websockets on 127.0.0.1 for
# about 8 s and prints the CPU time of load's `listen-queues` thread, read
# from /proc/PID/task/TID/stat, with the number of listening sockets on the
# machine (each sample dumps them all).
#
#   bench/load/listen_sampler.sh
#
# Loopback only. Needs a release build (cargo build --release) and
# python3 with websockets.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WSDOCTOR:-$ROOT/target/release/wsdoctor}
TICKS=$(getconf CLK_TCK)
OUT=$(mktemp)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -f "$OUT"' EXIT

python3 -u "$ROOT/tests/peers/python_websockets_echo.py" 0 --backlog 4096 >"$OUT" &
for _ in $(seq 1 50); do [ -s "$OUT" ] && break; sleep 0.1; done
PORT=$(head -1 "$OUT")
"$BIN" load "ws://127.0.0.1:$PORT/" -c 200 --rate 20 --step-hold 1s --hold 3s >/dev/null 2>&1 &
LOAD=$!
sleep 8
ticks=0
for task in /proc/$LOAD/task/*; do
  if [ "$(cat "$task/comm")" = "listen-queues" ]; then
    ticks=$(awk '{print $14 + $15}' "$task/stat")
  fi
done
listeners=$(($(ss -ltnH | wc -l)))
awk -v t="$ticks" -v hz="$TICKS" -v n="$listeners" 'BEGIN {
  printf "listen-queues thread: %.2f s of CPU in 8 s (%.1f%% of a core), %d listening sockets here\n", t / hz, t / hz / 8 * 100, n
}'
wait "$LOAD" || true

#!/usr/bin/env bash
# CPU time per handshake on each side: one `wsdoctor load` process opening N
# connections as fast as it can (--rate 100000) against one `wsdoctor serve`
# process, both on this machine. Prints the rate reached (first to last
# 101, from the events file) and the user+system CPU each process spent per
# connection from its start to 5.5 s in (the ramp, not the closing), read
# from /proc/PID/stat.
#
#   bench/load/handshake_cpu.sh [N] [RUNS]
#
# Loopback only. Needs a release build (cargo build --release); N at most
# ~17,000 (one process per side, under a 20,000 open-file limit).
set -euo pipefail
N=${1:-15000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WSDOCTOR:-$ROOT/target/release/wsdoctor}
OUT=$(mktemp -d)
TICKS=$(getconf CLK_TCK)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

cpu_ticks() { # pattern → utime+stime in clock ticks, summed
  local total=0
  for pid in $(pgrep -f "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

for run in $(seq 1 "$RUNS"); do
  PORT=$((19600 + run))
  "$BIN" serve --listen 127.0.0.1:$PORT --ping-interval 0 --no-greeting >/dev/null 2>"$OUT/serve.err" &
  SERVE=$!
  sleep 1.2
  S0=$(cpu_ticks "serve --listen 127.0.0.1:$PORT")
  "$BIN" load ws://127.0.0.1:$PORT/ -c "$N" --step "$N" --rate 100000 --hold 6s --step-hold 1s \
    --events "$OUT/events.jsonl" --json >"$OUT/load.json" 2>"$OUT/load.err" &
  LOAD=$!
  sleep 5.5
  S1=$(cpu_ticks "serve --listen 127.0.0.1:$PORT")
  L1=$(cpu_ticks "load ws://127.0.0.1:$PORT/")
  wait $LOAD || true
  kill $SERVE; wait $SERVE 2>/dev/null || true
  python3 - "$OUT" "$N" "$S0" "$S1" "$L1" "$TICKS" <<'PY'
import json, sys
out, n, s0, s1, l1, ticks = sys.argv[1], *map(int, sys.argv[2:])
opened = sorted(json.loads(l)["t_ms"] for l in open(f"{out}/events.jsonl") if '"opened"' in l)
load = json.load(open(f"{out}/load.json"))["observations"]["load"]
failed = sum(sum(s["failures"].values()) for s in load["steps"])
span = (opened[-1] - opened[0]) / 1000 if len(opened) > 1 else 0
rate = len(opened) / span if span else 0
us = lambda t: t * 1e6 / ticks / n
print(f"opened {len(opened):,} failed {failed:,} in {span:.2f} s = {rate:,.0f}/s; "
      f"CPU per connection: load {us(l1):.0f} us, serve {us(s1 - s0):.0f} us")
PY
done

#!/usr/bin/env bash
# 100,000 concurrent idle WebSocket connections: wsdoctor load against
# wsdoctor serve on this machine, held 60 s. Prints client and server RSS per
# connection (sum of every process of each: the cost of one more connection
# between the half-way hold and the last hold, and overall)
# and the handshake rate reached (from the per-connection event log).
#
#   bench/load/idle100k.sh [CONNECTIONS] [RATE] [HOLD]
#
# Loopback only. Needs a release build (cargo build --release). One process
# may hold at most 20,000 files here, so both sides run as several
# processes: serve --procs, and load picks its process count and source
# addresses (127.0.0.2…) by itself and says so.
set -euo pipefail
N=${1:-100000}
RATE=${2:-20000}
HOLD=${3:-60s}
PORT=${PORT:-9420}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WSDOCTOR:-$ROOT/target/release/wsdoctor}
OUT=$(mktemp -d)
SERVE_PROCS=$(( (N + 17999) / 18000 ))
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 1; pkill -f "serve --listen 127.0.0.1:$PORT" 2>/dev/null || true' EXIT

rss_sum() { # pattern → KiB summed over matching processes
  local total=0
  for pid in $(pgrep -f "$1" || true); do
    total=$(( total + $(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0) ))
  done
  echo $total
}

"$BIN" serve --listen 127.0.0.1:$PORT --procs $SERVE_PROCS --ping-interval 0 --no-greeting >/dev/null 2>"$OUT/serve.err" &
sleep 1.5
S0=$(rss_sum "serve --listen 127.0.0.1:$PORT")
"$BIN" load ws://127.0.0.1:$PORT/ -c $N --step $((N / 2)) --step-hold 15s --rate $RATE --hold $HOLD \
  --events "$OUT/events.jsonl" --json >"$OUT/load.json" 2>"$OUT/load.err" &
LOAD=$!
sleep 1
L0=$(rss_sum "wsdoctor load ws://127.0.0.1:$PORT/")
# Sample in the hold after the first half (every process is up by then) and
# in the last hold: the difference over the second half of the connections
# is the cost of one more connection, without the processes' own baseline.
HALF=$(python3 -c "print($N/2/$RATE + 10)")
sleep "$HALF"
SH=$(rss_sum "serve --listen 127.0.0.1:$PORT")
LH=$(rss_sum "wsdoctor load ws://127.0.0.1:$PORT/")
sleep "$HALF"; sleep 5
S1=$(rss_sum "serve --listen 127.0.0.1:$PORT")
L1=$(rss_sum "wsdoctor load ws://127.0.0.1:$PORT/")
wait $LOAD || true
python3 - "$OUT" "$N" "$S0" "$S1" "$L0" "$L1" "$SERVE_PROCS" "$SH" "$LH" <<'PY'
import json, sys
out, n, s0, s1, l0, l1, sp, sh, lh = sys.argv[1], *map(int, sys.argv[2:])
report = json.load(open(f"{out}/load.json"))
load = report["observations"]["load"]
opened = sum(s["opened"] for s in load["steps"])
failures = {}
drops = {}
for s in load["steps"]:
    for k, v in s["failures"].items(): failures[k] = failures.get(k, 0) + v
    for k, v in s["drops"].items(): drops[k] = drops.get(k, 0) + v
by_step = {}
for line in open(f"{out}/events.jsonl"):
    e = json.loads(line)
    if e.get("event") == "opened":
        by_step.setdefault(e["step"], []).append(e["t_ms"])
rates = []
for step, times in sorted(by_step.items()):
    span = (max(times) - min(times)) / 1000
    rates.append((step, len(times), span, len(times) / span if span > 0 else 0))
print(f"connections asked {n}, opened {opened}, failures {failures}, drops during hold {drops}")
print(f"generator: {load['generator'].get('notes', [])}")
for step, count, span, rate in rates:
    print(f"step {step}: {count:,} handshakes in {span:.2f} s (first to last 101): {rate:,.0f}/s")
half = n - n // 2
print(f"client RSS {l0} -> {lh} -> {l1} KiB: {(l1-lh)*1024/half:.0f} B per added connection over the second half; {(l1-l0)*1024/max(opened,1):.0f} B/conn overall, incl. each process's baseline (all load processes)")
print(f"server RSS {s0} -> {sh} -> {s1} KiB: {(s1-sh)*1024/half:.0f} B per added connection over the second half; {(s1-s0)*1024/max(opened,1):.0f} B/conn overall ({sp} serve processes)")
print(f"findings: {[f.get('id') or f.get('cause_id') for f in report['findings']]}")
PY
echo "logs in $OUT"

#!/usr/bin/env bash
# Memory per connection with and without permessage-deflate, on loopback:
# a fresh `wsdoctor serve` per run, `wsdoctor load` holding N connections
# that each send a few messages, then
#   client B/conn  – load's own figure (RSS growth / connections open, last step)
#   serve RSS      – the largest `ps -o rss` of serve during the run
# Usage: bench/load/deflate.sh [N] [WSDOCTOR]   (N default 5000)
set -euo pipefail
n=${1:-5000}
bin=${2:-target/release/wsdoctor}
[ -x "$bin" ] || { echo "build first: cargo build --release (or pass the binary)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {
  local label=$1 serve_flag=$2 load_flag=$3
  local port; port=$(free_port)
  "$bin" serve --listen "127.0.0.1:$port" --ping-interval 0 $serve_flag >/dev/null 2>&1 &
  local serve_pid=$!
  sleep 0.5
  local peak=0 out
  out=$(mktemp)
  "$bin" load "ws://127.0.0.1:$port/" -c "$n" --step "$n" --rate 2000 --hold 6s \
    --message-every 1s --size 512 $load_flag --json >"$out" 2>/dev/null &
  local load_pid=$!
  while kill -0 "$load_pid" 2>/dev/null; do
    rss=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
    [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  wait "$load_pid" || true
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
  python3 - "$out" "$label" "$peak" "$n" <<'PY'
import json, sys
path, label, peak_kib, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
load = json.load(open(path))["observations"]["load"]
step = load["steps"][-1]
per = step.get("bytes_per_connection")
print(f"{label:>12}: {step['open_at_end']} open · client {per} B/conn "
      f"(RSS {step.get('rss_bytes', 0) / 2**20:.1f} MiB) · serve peak RSS {peak_kib / 1024:.1f} MiB "
      f"({peak_kib * 1024 // max(step['open_at_end'], 1)} B/conn incl. its baseline)")
PY
  rm -f "$out"
}

run "no deflate" "--no-deflate" ""
run "deflate" "" "--deflate"

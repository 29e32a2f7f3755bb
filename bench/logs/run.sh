#!/usr/bin/env bash
# Benchmark of `wsdoctor logs`: generates a 1 GiB ALB log and a 1 GiB nginx
# log with planted patterns, checks the patterns are found, measures
# throughput on all cores and on one core, and compares with GoAccess on the
# same nginx file.
#
#   bash bench/logs/run.sh [BYTES] [DIR]
#
# Needs: a release build (done here), and `goaccess` for the comparison
# (apt-get install -y goaccess; skipped with a note when absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
BYTES=${1:-1073741824}
DIR=${2:-/tmp/wsdoctor-bench}
mkdir -p "$DIR"
cargo build --release -q -p wsdoctor-logs --example genlogs
cargo build --release -q --bin wsdoctor
W=target/release/wsdoctor
GEN=target/release/examples/genlogs
NGINX_FORMAT='$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'

for flavor in alb nginx; do
  if [ ! -s "$DIR/$flavor.log" ]; then
    "$GEN" "$flavor" "$BYTES" "$DIR/$flavor.log" 2> "$DIR/$flavor.planted"
  fi
  echo "== $flavor: $(du -h "$DIR/$flavor.log" | cut -f1), planted: $(head -1 "$DIR/$flavor.planted")"
done

secs() { python3 -c "import sys; print(f'{float(sys.argv[1]):.3f}')" "$1"; }
mbps() { python3 -c "import sys; print(f'{int(sys.argv[1])/float(sys.argv[2])/1e6:.0f}')" "$1" "$2"; }

run() { # flavor threads
  local flavor=$1 threads=$2 extra=()
  [ "$flavor" = nginx ] && extra=(--log-format "$NGINX_FORMAT")
  cat "$DIR/$flavor.log" > /dev/null  # warm the page cache: measure parsing, not the disk
  local start end
  start=$(date +%s.%N)
  RAYON_NUM_THREADS=$threads "$W" logs "$DIR/$flavor.log" "${extra[@]}" --json > "$DIR/$flavor.$threads.json" || true
  end=$(date +%s.%N)
  local t; t=$(python3 -c "print($end - $start)")
  local size; size=$(stat -c %s "$DIR/$flavor.log")
  echo "$flavor threads=$threads: $(secs "$t") s, $(mbps "$size" "$t") MB/s"
  python3 - "$DIR/$flavor.$threads.json" "$DIR/$flavor.planted" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = json.loads(open(sys.argv[2]).readline())
by = {f["id"]: f for f in r["findings"]}
def got(i, key): return by.get(i, {}).get("measured", {}).get(key)
failed = sum(got(i, "connections_affected") or 0 for i in ("backend-unavailable", "upgrade-not-forwarded"))
checks = [("idle-timeout connections", got("idle-timeout", "connections_affected"), p["idle"]),
          ("mass-disconnect connections", got("mass-disconnect", "connections_affected"), p["mass"]),
          ("failed upgrades", failed, p["failed"]),
          ("reconnect-no-backoff clients", got("reconnect-no-backoff", "samples"), p["storm_clients"]),
          ("load-limit concurrency", got("load-limit", "concurrency_limit"), p["load_limit"])]
for name, g, want in checks:
    print(f"   {name}: found {g}, planted {want} {'OK' if g == want else 'MISMATCH'}")
PY
}

for flavor in alb nginx; do
  run "$flavor" "$(nproc)"
  run "$flavor" 1
done

if command -v goaccess > /dev/null; then
  cat "$DIR/nginx.log" > /dev/null
  start=$(date +%s.%N)
  goaccess "$DIR/nginx.log" --log-format='%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T' \
    --date-format=%d/%b/%Y --time-format=%T -o "$DIR/goaccess.html" --no-progress > /dev/null 2>&1
  end=$(date +%s.%N)
  t=$(python3 -c "print($end - $start)")
  echo "goaccess nginx: $(secs "$t") s, $(mbps "$(stat -c %s "$DIR/nginx.log")" "$t") MB/s (report $DIR/goaccess.html)"
else
  echo "goaccess not installed: apt-get install -y goaccess"
fi

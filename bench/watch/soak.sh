#!/bin/sh
# Soak for `wsdoctor watch`: churn at a shrunk time scale (a 2 s idle timeout
# in the lab proxy drops the silent connections every ~2 s, ~5 drops/s with
# 20 connections) while the watch's RSS is sampled every minute. Loopback only.
#
#   sh bench/watch/soak.sh [MINUTES]      (default 30)
#
# Prints minute,rss_kib; a flat tail (after the --window has filled) is the pass.
# The report (JSON and HTML with the drops chart) and the events are kept.
set -eu
minutes=${1:-30}
bin=${WSDOCTOR:-target/release/wsdoctor}
[ -x "$bin" ] || cargo build --release
dir=$(mktemp -d)
"$bin" lab idle-timeout=2s --listen 127.0.0.1:9102 >"$dir/lab.log" 2>&1 &
lab=$!
sleep 1
"$bin" watch ws://127.0.0.1:9102/ws --conns 20 --interval 500ms --duration "${minutes}m" \
  --window 5m --backoff 100ms --backoff-max 500ms --events "$dir/events.jsonl" --json --html "$dir/report.html" >"$dir/report.json" &
watch=$!
echo "minute,rss_kib"
i=0
while kill -0 "$watch" 2>/dev/null; do
  echo "$i,$(awk '/VmRSS/ {print $2}' /proc/$watch/status 2>/dev/null || echo 0)"
  i=$((i + 1))
  sleep 60
done
kill "$lab" 2>/dev/null || true
echo "report and events in $dir" >&2

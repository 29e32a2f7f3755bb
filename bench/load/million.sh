#!/usr/bin/env bash
# A million concurrent idle WebSockets, both ends on this machine:
# `wsdoctor serve --procs S` and `wsdoctor load … -c N` from many 127.0.0.x
# source addresses (load picks its processes and addresses itself), held
# HOLD. Prints RSS per connection for both ends (summed over every process
# of each), the kernel's bytes per TCP socket, handshakes per second during
# the ramp, drops during the hold, and how long the close took.
#
#   N=1000000 RATE=20000 HOLD=60s bash bench/load/million.sh
#   N=200000 bash bench/load/million.sh            # smaller, same path
#
# Settings (environment): N (1000000), RATE (20000 new/s at most), HOLD
# (60s), SERVE_PROCS (N/17000 rounded up), PORT (9430), EVENTS (1: write
# load's --events file to measure the ramp's rate; 0: skip it), LOAD_ARGS
# (more arguments for load, e.g. "--procs 56"), WSDOCTOR
# (target/release/wsdoctor). Loopback only. Needs a release build
# (cargo build --release) and python3.
set -euo pipefail
N=${N:-1000000}
RATE=${RATE:-20000}
HOLD=${HOLD:-60s}
HOLD_S=${HOLD%s}
[[ $HOLD_S =~ ^[0-9]+$ ]] || { echo "HOLD is whole seconds, like 60s" >&2; exit 2; }
PORT=${PORT:-9430}
EVENTS=${EVENTS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WSDOCTOR:-$ROOT/target/release/wsdoctor}
SERVE_PROCS=${SERVE_PROCS:-$(( (N + 16999) / 17000 ))}
OUT=$(mktemp -d)
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release first" >&2; exit 2; }

SERVE_PID=
LOAD_PID=
cleanup() {
  [ -n "$LOAD_PID" ] && kill -INT "$LOAD_PID" 2>/dev/null || true
  [ -n "$SERVE_PID" ] && kill -INT "$SERVE_PID" 2>/dev/null || true
  sleep 2
  [ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null || true
  [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null || true
}
trap cleanup EXIT

rss_sum() { # the pids given → KiB summed
  local total=0
  for pid in "$@"; do
    total=$(( total + $(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0) ))
  done
  echo $total
}
family() { # a pid and its children (serve's workers, load's shards)
  echo "$1"
  pgrep -P "$1" || true
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), fs.file-max $(cat /proc/sys/fs/file-max), open-file hard limit $(ulimit -Hn), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" serve --listen 127.0.0.1:$PORT --procs "$SERVE_PROCS" --ping-interval 0 --no-greeting \
  >/dev/null 2>"$OUT/serve.err" &
SERVE_PID=$!
# Every worker listening: wait for the banner, then for the workers.
for _ in $(seq 1 100); do
  [ "$(family $SERVE_PID | wc -l)" -ge "$SERVE_PROCS" ] && break
  sleep 0.1
done
sleep 1
grep -E "capacity|warning" "$OUT/serve.err" || true
S0=$(rss_sum $(family $SERVE_PID))
read -r -a LOAD_EXTRA <<<"${LOAD_ARGS:-}"
EVENTS_ARG=()
[ "$EVENTS" = 1 ] && EVENTS_ARG=(--events "$OUT/events.jsonl")
T0=$(date +%s.%N)
"$BIN" load ws://127.0.0.1:$PORT/ -c "$N" --step "$N" --rate "$RATE" --hold "$HOLD" \
  "${EVENTS_ARG[@]}" "${LOAD_EXTRA[@]}" --json >"$OUT/load.json" 2>"$OUT/load.err" &
LOAD_PID=$!
# The ramp takes N/RATE s at best; sample both ends every 2 s and keep the
# samples taken while everything is open (the hold).
python3 - "$N" "$SERVE_PID" "$LOAD_PID" "$OUT/samples.jsonl" <<'PY' &
import json, os, subprocess, sys, time
n, serve, load, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def family(pid):
    kids = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
    return [pid] + kids
def rss(pids):
    total = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total
def tcp_inuse():
    for line in open("/proc/net/sockstat"):
        if line.startswith("TCP:"):
            w = line.split()
            return int(w[w.index("inuse") + 1])
    return 0
with open(out, "w") as f:
    while os.path.exists(f"/proc/{load}"):
        # The machine's CPU time so far (USER_HZ ticks: user nice system
        # idle iowait irq softirq steal), for the CPU each handshake cost.
        cpu = [int(v) for v in open("/proc/stat").readline().split()[1:9]]
        f.write(json.dumps({"t": time.time(), "serve_kib": rss(family(serve)),
                            "load_kib": rss(family(load)), "tcp_inuse": tcp_inuse(),
                            "cpu": cpu}) + "\n")
        f.flush()
        time.sleep(2)
PY
SAMPLER=$!
wait $LOAD_PID || true
LOAD_PID=
T1=$(date +%s.%N)
wait $SAMPLER || true
grep -v '^{"load_progress"' "$OUT/load.err" | head -20 || true
python3 - "$OUT" "$N" "$S0" "$SERVE_PROCS" "$T0" "$T1" "$HOLD_S" "$RATE" <<'PY'
import json, os, sys
out, n, s0, sp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1, hold_s, rate = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
report = json.load(open(f"{out}/load.json"))
load = report["observations"]["load"]
steps = load["steps"]
opened = sum(s["opened"] for s in steps)
failures, drops = {}, {}
for s in steps:
    for k, v in s["failures"].items(): failures[k] = failures.get(k, 0) + v
    for k, v in s["drops"].items(): drops[k] = drops.get(k, 0) + v
print(f"connections asked {n:,}, opened {opened:,}, peak open {load['peak_open']:,}, failures {failures}, drops during the hold {drops}")
print(f"load: {len(load.get('shards', [])) or 1} processes, {len(load['generator'].get('source_ips', []))} source addresses; serve: {sp} processes")
for s in load["generator"].get("machine", {}).get("shortfalls", []):
    print(f"machine check before the run: {s['detail']} (change: {s['setting']})")
ramp_end = n / rate  # s after the start, when the ramp keeps to its rate
samples = [json.loads(l) for l in open(f"{out}/samples.jsonl")]
try:
    times = sorted(json.loads(l)["t_ms"] for l in open(f"{out}/events.jsonl") if '"opened"' in l)
    if len(times) > 1:
        span = (times[-1] - times[0]) / 1000
        ramp_end = times[-1] / 1000
        print(f"ramp: {len(times):,} handshakes in {span:.1f} s (first to last 101): {len(times)/span:,.0f}/s")
        # The whole machine's CPU between the first and the last sample
        # inside the ramp, per handshake opened between them: both ends and
        # the kernel's share, which bound the rate whatever the program.
        inside = [s for s in samples if "cpu" in s and t0 + times[0] / 1000 <= s["t"] <= t0 + times[-1] / 1000]
        if len(inside) >= 2:
            a, b = inside[0], inside[-1]
            done = sum(1 for t in times if a["t"] <= t0 + t / 1000 <= b["t"])
            hz = os.sysconf("SC_CLK_TCK")
            d = [(y - x) / hz for x, y in zip(a["cpu"], b["cpu"])]
            user, kernel, idle = d[0] + d[1], d[2] + d[5] + d[6], d[3] + d[4]
            steal = d[7] if len(d) > 7 else 0.0
            per = lambda s: s * 1e6 / max(done, 1)
            cores = os.cpu_count() or 1
            print(f"CPU per handshake in the ramp ({done:,} opened in {b['t'] - a['t']:.0f} s): user {per(user):,.0f} us, kernel {per(kernel):,.0f} us (system, irq, softirq), idle {100 * idle / max(sum(d), 1e-9):.0f}%, stolen by the host {100 * steal / max(sum(d), 1e-9):.0f}%; "
                  f"{cores} cores give {cores * 1e6 / 20000:,.0f} us per handshake at 20,000/s")
except FileNotFoundError:
    print("ramp: no events file (EVENTS=0); the hold is taken to start at N/RATE")
# The hold: from 3 s after the last 101 to 3 s before the hold's end.
held = [s for s in samples if t0 + ramp_end + 3 <= s["t"] <= t0 + ramp_end + hold_s - 3]
last = steps[-1]
if last.get("bytes_per_connection") is not None:
    print(f"load RSS: {last['rss_bytes']/2**20:,.0f} MiB at the step's end, {last['bytes_per_connection']:,} B per open connection (growth since each process's start, summed; load's own figure)")
if held:
    mid = held[len(held) // 2]
    server = (mid["serve_kib"] - s0) * 1024 / max(opened, 1)
    client = mid["load_kib"] * 1024 / max(opened, 1)
    print(f"serve RSS: {s0:,} KiB idle -> {mid['serve_kib']:,} KiB holding: {server:,.0f} B per connection ({sp} processes)")
    print(f"load RSS (whole, sampled in the hold): {mid['load_kib']:,} KiB: {client:,.0f} B per connection incl. every process's baseline")
else:
    print(f"no sample saw all {opened:,} connections held ({len(samples)} samples)")
if last.get("kernel_bytes_per_socket") is not None:
    k, k0 = last["kernel"], load["kernel_start"]
    print(f"kernel: {last['kernel_bytes_per_socket']:,} B per TCP socket (slab {(k['slab_bytes']-k0['slab_bytes'])/2**20:+,.0f} MiB, unreclaimable {(k['slab_unreclaimable_bytes']-k0['slab_unreclaimable_bytes'])/2**20:+,.0f} MiB, TCP buffers {(k['tcp_buffer_bytes']-k0['tcp_buffer_bytes'])/2**20:+,.1f} MiB over {k['tcp_sockets']-k0['tcp_sockets']:,} sockets: both ends)")
close = load.get("close")
if close:
    print(f"close: {close['open_at_close']:,} connections closed in {close['took_ms']/1000:.1f} s, {close['unfinished']:,} unfinished")
print(f"load ran {t1 - t0:.0f} s; findings: {[f['id'] for f in report['findings']]}, verdict {report['verdict']}")
PY
echo "logs in $OUT"

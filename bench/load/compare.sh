#!/usr/bin/env bash
# 9,000 idle WebSocket connections from three clients, side by side, in one
# run on this machine, each against a fresh `wsdoctor serve` on a fresh
# loopback port:
#   wsdoctor  `wsdoctor load -c N --step N --rate R --hold 10s`
#   node      node-client.js, a plain Node.js client on the npm `ws` package
#   artillery artillery's WebSocket engine (artillery.yml)
#   tcpkali   `tcpkali --websocket -c N --connect-rate R -T ramp+hold`, when
#             it is installed (Debian has no package; built from source, it
#             is on PATH): it joins the default TOOLS then, else it is skipped
# For each: seconds to open all N (first connection seen to the last 101,
# from ss), connections open during the hold, and client RSS per connection:
# (VmRSS of the client's process tree holding N - the same holding 1, from a
# 1-connection calibration run just before) / (N - 1). The server's RSS per
# connection is recorded too. Details: README.md, measure.py. Loopback only.
#
#   RUNS=2 bash bench/load/compare.sh
#
# Settings (environment): WSDOCTOR (default target/release/wsdoctor, relative
# to the repo root), CONNS (9000), RATE (2000 new connections/s, the same
# bound for all three; node: --rate, artillery: arrivalCount CONNS over
# CONNS/RATE s), HOLD (10 s), RUNS (1: the whole comparison this many
# times), TOOLS ("wsdoctor node artillery", plus tcpkali when on PATH), PORT (19300, first port; each
# phase gets its own), GAP (10 s idle between phases), PHASE_TIMEOUT (180 s
# for a ramp), OUT (bench/load/results.json).
# Needs: a release build of wsdoctor, node >= 18 and npm (node_modules is
# installed here with `npm ci` from package-lock.json when missing), python3,
# ss (iproute2), and an open-file limit above CONNS.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WSDOCTOR=${WSDOCTOR:-target/release/wsdoctor}
case $WSDOCTOR in /*) ;; *) WSDOCTOR=$ROOT/$WSDOCTOR ;; esac
CONNS=${CONNS:-9000}
RATE=${RATE:-2000}
HOLD=${HOLD:-10}
RUNS=${RUNS:-1}
if [ -z "${TOOLS:-}" ]; then
  TOOLS="wsdoctor node artillery"
  if command -v tcpkali >/dev/null; then
    TOOLS="$TOOLS tcpkali"
  else
    echo "compare.sh: tcpkali is not installed (Debian has no package for it), so it is left out" >&2
  fi
fi
PORT=${PORT:-19300}
GAP=${GAP:-10}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-180}
OUT=${OUT:-$HERE/results.json}
RUN_DIR=${RUN_DIR:-$HERE/runs/$(date -u +%Y%m%dT%H%M%SZ)}

die() { echo "compare.sh: $*" >&2; exit 2; }
[ -x "$WSDOCTOR" ] || die "no wsdoctor at $WSDOCTOR: cargo build --release, or set WSDOCTOR"
command -v node >/dev/null || die "node is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
command -v ss >/dev/null || die "ss (iproute2) is not installed"
[[ $CONNS =~ ^[0-9]+$ && $RATE =~ ^[0-9]+$ && $HOLD =~ ^[0-9]+$ && $RATE -gt 0 ]] ||
  die "CONNS, RATE and HOLD are whole numbers, RATE > 0"
# One process holds CONNS sockets: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((CONNS + 200)) ] ||
  die "open-file limit $(ulimit -n) is too low for $CONNS connections in one process"
if [ ! -d "$HERE/node_modules/ws" ] || [ ! -d "$HERE/node_modules/artillery" ]; then
  echo "== npm ci in $HERE (ws, artillery; scripts off: no browser downloads)"
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$RUN_DIR"

# Whatever we started goes, however we leave: the server, the sampler, and
# the client's process group (measure.py starts it in a session of its own).
SERVER='' MEASURE='' PGID_FILE=''
cleanup() {
  local pgid
  if [ -n "$PGID_FILE" ] && [ -s "$PGID_FILE" ]; then
    pgid=$(cat "$PGID_FILE")
    kill -TERM -- "-$pgid" 2>/dev/null || true
  fi
  [ -n "$MEASURE" ] && kill "$MEASURE" 2>/dev/null || true
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  sleep 0.5
  if [ -n "${pgid:-}" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  [ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null || true
  SERVER='' MEASURE='' PGID_FILE=''
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT TERM

# Sockets of any state (TIME_WAIT included) on a port.
port_busy() { [ -n "$(ss -Htan "( sport = :$1 or dport = :$1 )" | head -1)" ]; }

next_port=$PORT
fresh_port() { # sets FRESH_PORT: a port no socket uses, never one used before
  while port_busy "$next_port"; do next_port=$((next_port + 1)); done
  FRESH_PORT=$next_port
  next_port=$((next_port + 1))
}

ramp_s=$(((CONNS + RATE - 1) / RATE))

client_cmd() { # tool port n hold artillery-report
  local url="ws://127.0.0.1:$2/" n=$3 hold=$4
  local ramp=$(((n + RATE - 1) / RATE))
  case $1 in
    wsdoctor) CMD=("$WSDOCTOR" load "$url" -c "$n" --step "$n" --rate "$RATE" --hold "${hold}s" --json) ;;
    node) CMD=(node "$HERE/node-client.js" "$url" -c "$n" --rate "$RATE" --hold "$hold" --delay 1 --open-timeout "$PHASE_TIMEOUT") ;;
    artillery)
      # No "hold until all are open" in artillery: each connection thinks
      # for the ramp plus the hold plus a margin, so that all are open
      # together for at least the hold when the ramp keeps to the rate.
      local think=$((ramp + hold + 10)) dur
      # n arrivals spread evenly over n/RATE s (at least 1 s).
      # (Written in ms: artillery 2.0.21 rejects a fractional number of s.)
      dur=$(awk -v n="$n" -v r="$RATE" 'BEGIN { d = n * 1000 / r; if (d < 1000) d = 1000; printf "%dms", d }')
      CMD=(env ARTILLERY_DISABLE_TELEMETRY=true "$HERE/node_modules/.bin/artillery" run --target "$url"
        --overrides "{\"config\":{\"phases\":[{\"name\":\"settle\",\"pause\":3},{\"name\":\"open\",\"duration\":\"$dur\",\"arrivalCount\":$n}],\"variables\":{\"hold\":$think}}}"
        --output "$5" "$HERE/artillery.yml") ;;
    tcpkali)
      command -v tcpkali >/dev/null || die "tcpkali is not installed (Debian has no package: build it from its source)"
      # Opens n at most RATE a second and keeps them until the duration
      # ends: the ramp plus the hold. Sends nothing but the upgrade.
      CMD=(tcpkali --websocket -c "$n" --connect-rate "$RATE" -T "$((ramp + hold))s" "127.0.0.1:$2") ;;
    *) die "unknown tool $1 (wsdoctor, node, artillery, tcpkali)" ;;
  esac
}

measure() { # tool port n dir name [measure.py options]
  local tool=$1 port=$2 n=$3 dir=$4 name=$5
  shift 5
  printf '%q ' "${CMD[@]}" >"$dir/$name.command"
  PGID_FILE=$dir/$name.pgid
  python3 "$HERE/measure.py" --name "$tool" --port "$port" --conns "$n" --server-pid "$SERVER" \
    --out "$dir/$name.json" --log "$dir/$name.out" --pgid-file "$PGID_FILE" \
    --phase-timeout "$PHASE_TIMEOUT" "$@" -- "${CMD[@]}" &
  MEASURE=$!
  wait "$MEASURE" || echo "   (the sampler failed: status $?)"
  MEASURE='' PGID_FILE=''
}

phase() { # run tool
  local run=$1 tool=$2 port dir
  fresh_port
  port=$FRESH_PORT
  dir=$RUN_DIR/run$run-$tool
  mkdir -p "$dir"
  echo "== run $run/$RUNS, $tool: $CONNS connections at <= $RATE/s to 127.0.0.1:$port ($(date -u +%T))"
  "$WSDOCTOR" serve --listen "127.0.0.1:$port" --ping-interval 0 --no-greeting >"$dir/server.log" 2>&1 &
  SERVER=$!
  local i=0
  until [ -n "$(ss -Hltn "( sport = :$port )")" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || die "the server did not listen on $port within 10 s (see $dir/server.log)"
    kill -0 "$SERVER" 2>/dev/null || die "the server exited (see $dir/server.log)"
    sleep 0.1
  done
  # Calibration: the same client holding 1 connection for 3 s. Its RSS is
  # the "before" of the per-connection figure: loaded, warmed up, ~idle.
  # (wsdoctor connects ~3 ms after exec, too soon to sample a "before" from
  # outside; node and artillery wait 1 s / 3 s first, measure.py samples
  # that too, as rss_before_kib.) Artillery is stopped after the sample.
  client_cmd "$tool" "$port" 1 3 "$dir/calib-artillery-report.json"
  measure "$tool" "$port" 1 "$dir" calib --hold-window 3 --exit-grace "$([ "$tool" = artillery ] && echo 0 || echo 30)" \
    --stall 10
  sleep 2
  client_cmd "$tool" "$port" "$CONNS" "$HOLD" "$dir/artillery-report.json"
  local exit_grace=60
  [ "$tool" = artillery ] && exit_grace=$((ramp_s + HOLD + 70))
  measure "$tool" "$port" "$CONNS" "$dir" client --exit-grace "$exit_grace"
  python3 "$HERE/summary.py" --phase "$dir" || true
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=''
}

echo "wsdoctor: $WSDOCTOR ($("$WSDOCTOR" --version)); node $(node --version); $(nproc) cores; results in $RUN_DIR"
first=1
for run in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do
    # Between phases: the previous clients' sockets leave (TIME_WAIT stays on
    # the old port only), and the machine settles.
    [ $first = 1 ] || sleep "$GAP"
    first=0
    phase "$run" "$tool"
  done
done
python3 "$HERE/summary.py" --runs "$RUN_DIR" --out "$OUT" --conns "$CONNS" --rate "$RATE" --hold "$HOLD" \
  --wsdoctor-version "$("$WSDOCTOR" --version)"

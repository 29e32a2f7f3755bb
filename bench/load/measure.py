#!/usr/bin/env python3
"""Runs one client command against a server already listening on PORT and
measures it from the outside, the same way for every tool (compare.sh calls
this once per tool):

  python3 measure.py --name NAME --port PORT --conns N --server-pid PID \
      --out phase.json [--phase-timeout S] [--stall S] -- CMD ARGS...

* opened: client-side TCP connections to 127.0.0.1:PORT that are ESTABLISHED
  and have received bytes (the server's `101 Switching Protocols`; the server
  runs with --no-greeting, so the 101 is the only thing it ever sends), counted
  with `ss -tin`. Polled every --poll seconds (default 0.2) during the ramp.
* seconds to open: from the client's launch (launch_to_all_s), and from the
  first connection seen being opened (SYN-SENT or ESTABLISHED in ss, polled
  back to back before the ramp: first_to_all_s), to the poll that saw all N
  upgraded. The second leaves out the tool's own start-up and idle wait.
* RSS: VmRSS from /proc/PID/status, summed over the client process and all its
  descendants (threads share their process's RSS, so artillery's worker
  threads are inside its one process). "before" is the last sample taken
  while no connection to PORT was being opened or open yet (ss); "hold" is
  the median of the samples taken from 1 s to --hold-window s after all N
  were open (or after the ramp stalled). rss_per_conn_kib = (hold - before)
  / opened at the hold. (compare.sh reports instead (hold with N - hold with
  1) / (N - 1), from a 1-connection calibration run: wsdoctor connects ~3 ms
  after exec, before a "before" can be read from outside.)
* The server's RSS is sampled the same way: before = just before the client
  starts, hold = median over the same window.

Bounded: the ramp ends at --phase-timeout, a ramp that stops growing for
--stall seconds ends early, and the client (its whole process group) gets
SIGTERM, then SIGKILL, if it has not exited --exit-grace seconds after the
hold window. Writes one JSON object to --out.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree(root):
    """root and every descendant, from /proc/*/stat."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: split after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tcp_to_port(port):
    """Connections to PORT being opened or open (SYN-SENT, ESTABLISHED):
    a TIME_WAIT left by an earlier client on the port does not count."""
    out = subprocess.run(
        ["ss", "-H", "-t", "-n", "state", "syn-sent", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, timeout=20,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def opened_to_port(port):
    """Client-side ESTABLISHED connections to PORT that received bytes."""
    out = subprocess.run(
        ["ss", "-H", "-t", "-i", "-n", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, timeout=20,
    ).stdout
    established = 0
    upgraded = 0
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            established += 1
        elif "bytes_received:" in line:
            upgraded += 1
    return established, upgraded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", default=None, help="client stdout goes here, its stderr to LOG.err")
    ap.add_argument("--pgid-file", default=None, help="write the client's process group id here")
    ap.add_argument("--phase-timeout", type=float, default=180.0)
    ap.add_argument("--stall", type=float, default=20.0)
    ap.add_argument("--poll", type=float, default=0.2)
    ap.add_argument("--hold-window", type=float, default=6.0)
    ap.add_argument("--exit-grace", type=float, default=60.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no client command after --")

    notes = []
    server_before = rss_kib(a.server_pid)
    # The machine's TCP sockets now (other work on a shared machine shows here).
    try:
        summary = subprocess.run(["ss", "-s"], capture_output=True, text=True, timeout=20).stdout
        machine_tcp = next((l.strip() for l in summary.splitlines() if l.startswith("TCP:")), None)
    except (OSError, subprocess.SubprocessError):
        machine_tcp = None
    log = open(a.log, "wb") if a.log else subprocess.DEVNULL
    err = open(a.log + ".err", "wb") if a.log else subprocess.DEVNULL
    t0 = time.monotonic()
    # A session of its own: the whole client tree can be signalled as a group.
    child = subprocess.Popen(cmd, stdout=log, stderr=err, start_new_session=True)
    if a.pgid_file:
        with open(a.pgid_file, "w") as f:
            f.write(str(child.pid))

    def elapsed():
        return time.monotonic() - t0

    def stop_client(reason):
        if child.poll() is not None:
            return
        notes.append(reason)
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    result = {"tool": a.name, "conns": a.conns, "port": a.port, "command": cmd, "machine_tcp_at_start": machine_tcp}
    try:
        # 1. Before connecting: RSS every 5 ms until the first connection to PORT.
        pids = [child.pid]
        before = rss_kib(child.pid)
        last_tree = 0.0
        first_tcp_at = None
        while elapsed() < a.phase_timeout:
            if child.poll() is not None:
                break
            if elapsed() - last_tree > 0.1:
                pids = tree(child.pid)
                last_tree = elapsed()
            rss = sum(rss_kib(p) for p in pids)
            if tcp_to_port(a.port) > 0:
                first_tcp_at = elapsed()
                break
            if rss:
                before = rss
        result["rss_before_kib"] = before
        result["first_tcp_s"] = first_tcp_at

        # 2. The ramp: poll the count of upgraded connections.
        first_at = all_at = None
        peak = 0
        best_at = elapsed()
        ramp = []
        peak_rss = peak_server_rss = None
        last_tree = elapsed()
        while True:
            if elapsed() - last_tree > 1.0:
                pids = tree(child.pid)
                last_tree = elapsed()
            now = elapsed()
            if now >= a.phase_timeout:
                notes.append(f"ramp stopped at the {a.phase_timeout:.0f} s phase timeout")
                break
            est, up = opened_to_port(a.port)
            now = elapsed()
            rss = sum(rss_kib(p) for p in pids)
            ramp.append((round(now, 3), est, up, rss))
            if up > 0 and first_at is None:
                first_at = now
            if up > peak:
                peak, best_at = up, now
                peak_rss, peak_server_rss = rss, rss_kib(a.server_pid)
            if up >= a.conns:
                all_at = now
                break
            if child.poll() is not None:
                notes.append(f"the client exited (status {child.returncode}) during the ramp, at {up} open")
                break
            if now - best_at > a.stall:
                notes.append(f"ramp stalled: no new connection for {a.stall:.0f} s, at {peak} open")
                break
            time.sleep(a.poll)
        hold_start = elapsed()
        result["first_open_s"] = first_at
        result["all_open_s"] = all_at
        result["launch_to_all_s"] = round(all_at, 2) if all_at is not None else None
        start = first_tcp_at if first_tcp_at is not None else first_at
        result["first_to_all_s"] = round(all_at - start, 2) if all_at is not None and start is not None else None
        result["peak_open"] = peak
        result["ramp_samples"] = ramp

        # 3. The hold: RSS (client tree and server) and the open count.
        pids = tree(child.pid)
        client_rss, server_rss, counts = [], [], []
        while elapsed() < hold_start + a.hold_window and child.poll() is None:
            if elapsed() >= hold_start + 1.0:
                client_rss.append(sum(rss_kib(p) for p in pids))
                server_rss.append(rss_kib(a.server_pid))
                counts.append(opened_to_port(a.port)[1])
            time.sleep(0.5)
        result["hold_sampled"] = bool(client_rss)
        if not client_rss:
            notes.append("the client exited before the hold could be sampled: RSS and open count"
                         " are those of the ramp poll that saw the peak")
            if peak_rss:
                client_rss, server_rss, counts = [peak_rss], [peak_server_rss], [peak]
        result["client_pids"] = pids
        result["rss_hold_kib"] = int(statistics.median(client_rss)) if client_rss else None
        result["rss_hold_samples"] = client_rss
        result["open_at_hold"] = min(counts) if counts else 0
        result["open_at_hold_samples"] = counts
        result["server_rss_before_kib"] = server_before
        result["server_rss_hold_kib"] = int(statistics.median(server_rss)) if server_rss else None

        def per_conn(hold, base, n):
            return round((hold - base) / n, 2) if hold is not None and n else None

        result["rss_per_conn_kib"] = per_conn(result["rss_hold_kib"], before, result["open_at_hold"])
        result["server_rss_per_conn_kib"] = per_conn(result["server_rss_hold_kib"], server_before, result["open_at_hold"])

        # 4. Let the client finish its own hold and exit, bounded.
        try:
            child.wait(timeout=a.exit_grace)
        except subprocess.TimeoutExpired:
            stop_client(f"the client did not exit within {a.exit_grace:.0f} s of the hold window: stopped")
        result["exit_status"] = child.returncode
        result["total_s"] = round(elapsed(), 2)
    finally:
        stop_client("stopped on an error in the sampler")
        result["notes"] = notes
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

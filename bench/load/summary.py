#!/usr/bin/env python3
"""The tables of compare.sh.

  summary.py --phase DIR          one line for one tool's phase
  summary.py --runs DIR --out results.json [--conns N --rate R --hold S]
                                  a table per run, and the JSON of all runs

A phase directory (runN-TOOL) holds measure.json (measure.py) and the
client's own output (client.out, artillery-report.json), from which the
tool's own count of opened connections is read.
"""
import argparse
import glob
import json
import os
import platform
import re
import sys
import time

TOOLS = ["wsdoctor", "node", "artillery", "tcpkali"]


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def json_lines(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def own_report(phase_dir, tool):
    """What the tool itself says it opened, and how it failed."""
    if tool == "wsdoctor":
        r = load_json(os.path.join(phase_dir, "client.out"))
        if not r:
            return {"says": "no report"}
        load = r.get("observations", {}).get("load", {})
        steps = load.get("steps", [])
        last = steps[-1] if steps else {}
        return {
            "says": f"peak_open {load.get('peak_open')}, verdict {r.get('verdict')}",
            "opened": load.get("peak_open"),
            "failures": last.get("failures"),
            "handshake_p99_ms": round(last.get("handshake", {}).get("p99_us", 0) / 1000, 1),
            "findings": [f.get("id") for f in r.get("findings", [])],
        }
    if tool == "node":
        ev = {e.get("event"): e for e in json_lines(os.path.join(phase_dir, "client.out"))}
        ramp = ev.get("all_open") or ev.get("ramp_done") or {}
        hold = ev.get("hold_end", {})
        return {
            "says": f"opened {ramp.get('opened')} in {ramp.get('open_s')} s (its own clock), "
            f"{hold.get('still_open')} still open at the hold's end",
            "opened": ramp.get("opened"),
            "failed": ramp.get("failed"),
            "own_open_s": ramp.get("open_s"),
            "errors": hold.get("errors"),
        }
    if tool == "artillery":
        r = load_json(os.path.join(phase_dir, "artillery-report.json")) or {}
        counters = r.get("aggregate", {}).get("counters", {})
        errors = {k: v for k, v in counters.items() if k.startswith("errors.")}
        if not counters:
            tail = ""
            try:
                with open(os.path.join(phase_dir, "client.out.err"), errors="replace") as f:
                    tail = f.read()[-400:].strip()
            except OSError:
                pass
            return {"says": "no artillery report" + (f": {tail}" if tail else "")}
        return {
            "says": f"vusers created {counters.get('vusers.created')}, failed {counters.get('vusers.failed', 0)}, "
            f"completed {counters.get('vusers.completed', 0)}" + (f", {errors}" if errors else ""),
            "opened": (counters.get("vusers.created") or 0) - (counters.get("vusers.failed") or 0),
            "vusers_created": counters.get("vusers.created"),
            "vusers_failed": counters.get("vusers.failed", 0),
            "errors": errors,
        }
    if tool == "tcpkali":
        # tcpkali prints its totals as text when its --duration ends.
        try:
            with open(os.path.join(phase_dir, "client.out"), errors="replace") as f:
                lines = [l.strip() for l in f if l.strip()]
        except OSError:
            lines = []
        return {"says": " / ".join(lines[-3:]) or "no output"}
    return {}


def phase_row(phase_dir):
    m = load_json(os.path.join(phase_dir, "client.json"))
    if not m:
        return None
    c = load_json(os.path.join(phase_dir, "calib.json")) or {}
    tool = m["tool"]
    # Per connection: (RSS holding N - RSS holding 1) / (N - 1), both taken
    # the same way during a hold (see measure.py and compare.sh).
    n, hold, hold1 = m.get("open_at_hold") or 0, m.get("rss_hold_kib"), c.get("rss_hold_kib")
    per_conn = round((hold - hold1) / (n - 1), 2) if hold and hold1 and n > 1 else None
    server_hold1 = c.get("server_rss_hold_kib")
    row = {
        "tool": tool,
        "opened": m.get("open_at_hold"),
        "peak_open": m.get("peak_open"),
        "all_open": m.get("all_open_s") is not None,
        "first_to_all_s": m.get("first_to_all_s"),
        "launch_to_all_s": m.get("launch_to_all_s"),
        "rss_1conn_kib": hold1,
        "rss_hold_kib": hold,
        "rss_per_conn_kib": per_conn,
        # The other "before": the last sample before any connection to the
        # port existed. Sound for node (1 s idle) and artillery (3 s pause);
        # for wsdoctor it is taken ~0 ms after exec, before its runtime.
        "rss_preconnect_kib": m.get("rss_before_kib"),
        "rss_per_conn_vs_preconnect_kib": m.get("rss_per_conn_kib"),
        "client_processes": len(m.get("client_pids", [])),
        "server_rss_before_kib": m.get("server_rss_before_kib"),
        "server_rss_hold_kib": m.get("server_rss_hold_kib"),
        "server_rss_per_conn_kib": m.get("server_rss_per_conn_kib"),
        "exit_status": m.get("exit_status"),
        "hold_sampled": m.get("hold_sampled"),
        "machine_tcp_at_start": m.get("machine_tcp_at_start"),
        "notes": m.get("notes", []),
        "own": own_report(phase_dir, tool),
        "port": m.get("port"),
        "command": m.get("command"),
    }
    # When the ramp did not reach N: how long it took to reach its peak.
    if not row["all_open"]:
        ramp = m.get("ramp_samples", [])
        peak = row["peak_open"] or 0
        first = m.get("first_tcp_s") or m.get("first_open_s")
        at = next((t for t, _, up, *_ in ramp if up >= peak and peak), None)
        row["peak_at_s_from_first"] = round(at - first, 2) if at is not None and first is not None else None
    return row


def fmt(v, spec="{:.2f}"):
    return "-" if v is None else spec.format(v)


def table(rows, run_label):
    base = next((r for r in rows if r["tool"] == "wsdoctor"), None)
    lines = [
        f"run {run_label}",
        f"{'tool':<10} {'opened':>7} {'s to open':>10} {'launch->all s':>14} {'client KiB/conn':>16} "
        f"{'ratio':>7} {'client MiB':>11} {'server KiB/conn':>16}",
    ]
    for r in rows:
        ratio = None
        if base and base.get("rss_per_conn_kib") and r.get("rss_per_conn_kib") is not None:
            ratio = r["rss_per_conn_kib"] / base["rss_per_conn_kib"]
        r["ratio_vs_wsdoctor"] = round(ratio, 2) if ratio is not None else None
        to_open = fmt(r["first_to_all_s"]) if r["all_open"] else (
            f"never ({r['peak_open']} max)")
        lines.append(
            f"{r['tool']:<10} {fmt(r['opened'], '{}') + ('*' if r.get('hold_sampled') is False else ''):>7} {to_open:>10} {fmt(r['launch_to_all_s']):>14} "
            f"{fmt(r['rss_per_conn_kib']):>16} {fmt(ratio, '{:.1f}x'):>7} "
            f"{fmt(r['rss_hold_kib'] / 1024 if r['rss_hold_kib'] else None, '{:.1f}'):>11} "
            f"{fmt(r['server_rss_per_conn_kib']):>16}"
        )
    if any(r.get("hold_sampled") is False for r in rows):
        lines.append("* no hold: the client stopped before all were open; figures at its peak")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase")
    ap.add_argument("--runs")
    ap.add_argument("--out")
    ap.add_argument("--conns", type=int)
    ap.add_argument("--rate", type=int)
    ap.add_argument("--hold", type=int)
    ap.add_argument("--wsdoctor-version")
    a = ap.parse_args()

    if a.phase:
        r = phase_row(a.phase)
        if not r:
            print("   no measurement")
            return 1
        print(
            f"   opened {r['opened']} (peak {r['peak_open']}), "
            + (f"all open {r['first_to_all_s']} s after the first ({r['launch_to_all_s']} s after launch), "
               if r["all_open"] else f"never all open (peak after {r.get('peak_at_s_from_first')} s), ")
            + f"client RSS {r['rss_1conn_kib']} (1 conn) -> {r['rss_hold_kib']} KiB = {r['rss_per_conn_kib']} KiB/conn "
            f"(vs pre-connect {r['rss_preconnect_kib']} KiB: {r['rss_per_conn_vs_preconnect_kib']}), "
            f"server {r['server_rss_per_conn_kib']} KiB/conn"
        )
        print(f"   {r['tool']} says: {r['own'].get('says')}")
        for n in r["notes"]:
            print(f"   note: {n}")
        return 0

    runs = {}
    for d in sorted(glob.glob(os.path.join(a.runs, "run*-*"))):
        m = re.match(r"run(\d+)-(\w+)$", os.path.basename(d))
        row = phase_row(d)
        if m and row:
            runs.setdefault(int(m.group(1)), []).append(row)
    out = {
        "schema": "wsdoctor.bench.load/v1",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "node": os.popen("node --version").read().strip()},
        "wsdoctor": a.wsdoctor_version,
        "conns": a.conns,
        "rate": a.rate,
        "hold_s": a.hold,
        "runs": [],
    }
    print()
    print(f"{a.conns} idle connections, <= {a.rate} new/s, hold {a.hold} s. 's to open': first connection seen to last 101 "
          "(ss, 0.2 s polls);\nKiB/conn: (client RSS holding N - holding 1) / (N - 1); ratio: client KiB/conn over wsdoctor's; "
          "client MiB: the client's whole RSS during the hold")
    for n in sorted(runs):
        rows = sorted(runs[n], key=lambda r: TOOLS.index(r["tool"]) if r["tool"] in TOOLS else 9)
        print()
        print(table(rows, n))
        out["runs"].append({"run": n, "tools": rows})
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nJSON: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

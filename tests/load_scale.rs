//! `wsdoctor load` past one process, end to end with the built binary:
//! shards run as separate processes and `merge` gives the single run's
//! counts; `--procs 2`; `merge` refusing sets that do not belong together;
//! `--events`; children that do not outlive their parent; the generator's
//! own limit still reported as its own after a merge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{schema_validate, wsdoctor};
use wsdoctor_lab::{LabConfig, LabServer};

/// A short ramp: 3 steps of 80, held 1 s at the end.
const RAMP: &[&str] = &[
    "-c",
    "240",
    "--step",
    "80",
    "--rate",
    "2000",
    "--step-hold",
    "300ms",
    "--hold",
    "1s",
];

fn spawn_load(url: &str, extra: &[&str]) -> Child {
    wsdoctor()
        .args(["load", url, "--json"])
        .args(RAMP)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn report(out: &Output) -> Value {
    report_from(&out.stdout, &out.stderr)
}

fn report_from(stdout: &[u8], stderr: &[u8]) -> Value {
    let report: Value = serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(stdout),
            String::from_utf8_lossy(stderr)
        )
    });
    schema_validate(&report);
    report
}

fn load_obs(report: &Value) -> &Value {
    &report["observations"]["load"]
}

/// Per step: (index, target, attempted, opened, open_at_end, handshake count).
fn step_counts(report: &Value) -> Vec<[u64; 6]> {
    load_obs(report)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            [
                s["index"].as_u64().unwrap(),
                s["target"].as_u64().unwrap(),
                s["attempted"].as_u64().unwrap(),
                s["opened"].as_u64().unwrap(),
                s["open_at_end"].as_u64().unwrap(),
                s["handshake"]["count"].as_u64().unwrap(),
            ]
        })
        .collect()
}

fn merge(files: &[&Path], extra: &[&str]) -> Output {
    wsdoctor()
        .arg("merge")
        .args(files)
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_as_processes_merge_into_the_single_run() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws");
    let dir = tempfile::tempdir().unwrap();
    let single = spawn_load(&url, &[]).wait_with_output().unwrap();
    assert_eq!(single.status.code(), Some(0));
    let single = report(&single);
    // The three shards run at the same time, as three machines would.
    let children: Vec<Child> = (0..3)
        .map(|i| spawn_load(&url, &["--shard", &format!("{i}/3")]))
        .collect();
    let mut files = Vec::new();
    let mut shard_reports = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = report(&out);
        assert_eq!(load_obs(&r)["shard"]["index"], i);
        let path = dir.path().join(format!("shard-{i}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path);
        shard_reports.push(r);
    }
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = merge(&paths, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = report(&out);
    assert_eq!(merged["command"], "load");
    assert_eq!(merged["findings"][0]["id"], "healthy");
    assert_eq!(step_counts(&merged), step_counts(&single));
    assert_eq!(load_obs(&merged)["peak_open"], 240);
    assert_eq!(load_obs(&merged)["shards"].as_array().unwrap().len(), 3);
    // Percentiles come from the merged histograms: the merged max is the
    // largest shard max, the median lies between the shards' medians, and
    // the merged histogram is there for the next reader.
    for (i, step) in load_obs(&merged)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let shard_steps: Vec<&Value> = shard_reports
            .iter()
            .map(|r| &load_obs(r)["steps"][i]["handshake"])
            .collect();
        let max = shard_steps
            .iter()
            .map(|h| h["max_us"].as_u64().unwrap())
            .max();
        assert_eq!(step["handshake"]["max_us"].as_u64(), max);
        let p50s: Vec<u64> = shard_steps
            .iter()
            .map(|h| h["p50_us"].as_u64().unwrap())
            .collect();
        let p50 = step["handshake"]["p50_us"].as_u64().unwrap();
        assert!(
            p50 >= *p50s.iter().min().unwrap() && p50 <= *p50s.iter().max().unwrap(),
            "{p50} outside {p50s:?}"
        );
        assert!(step["handshake"]["histogram"].as_str().unwrap().len() > 40);
    }
    // The text rendering says it is a merge.
    let text = merge(&paths, &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("merged from 3 shards"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_refuses_sets_that_do_not_belong_together() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, out: &Output| {
        assert!(matches!(out.status.code(), Some(0 | 1)));
        let path = dir.path().join(name);
        std::fs::write(&path, &out.stdout).unwrap();
        path
    };
    let a = spawn_load(&url, &["--shard", "0/3"]);
    let b = spawn_load(&url, &["--shard", "1/3"]);
    // Shard 2/3 of another ramp: one more connection per step.
    let other = wsdoctor()
        .args([
            "load", &url, "--json", "-c", "243", "--step", "81", "--rate", "2000",
        ])
        .args(["--step-hold", "300ms", "--hold", "1s", "--shard", "2/3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let a = write("a.json", &a.wait_with_output().unwrap());
    let b = write("b.json", &b.wait_with_output().unwrap());
    let other = write("other.json", &other.wait_with_output().unwrap());
    let not_json = dir.path().join("notes.txt");
    std::fs::write(&not_json, "not a report").unwrap();
    let missing = dir.path().join("missing.json");

    let check = |files: &[&Path], expect: &[&str]| {
        let out = merge(files, &["--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(!stderr.contains("panicked"), "{stderr}");
        for e in expect {
            assert!(stderr.contains(e), "{e:?} not in {stderr}");
        }
        stderr.into_owned()
    };
    // Incomplete: names what is missing.
    check(&[&a, &b], &["incomplete", "shard 2/3 missing"]);
    // Another plan.
    check(
        &[&a, &b, &other],
        &["other.json ran another plan", "-c 243 against 240"],
    );
    // The same shard twice.
    check(&[&a, &a, &b], &["both shard 0/3"]);
    // Bad files: one line each, then the summary.
    let stderr = check(
        &[&a, &not_json, &missing],
        &["notes.txt: not a JSON report", "missing.json: cannot read"],
    );
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
    // --partial merges what is there and says what is missing.
    let out = merge(&[&a, &b], &["--partial", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let r = report(&out);
    assert_eq!(load_obs(&r)["steps"][0]["attempted"], 54);
    let notes = load_obs(&r)["generator"]["notes"].to_string();
    assert!(
        notes.contains("incomplete") && notes.contains("2/3"),
        "{notes}"
    );
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn procs_2_runs_two_processes_and_merges_them() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let out = spawn_load(
        &lab.url("/ws"),
        &[
            "--procs",
            "2",
            "--events",
            events_path.to_str().unwrap(),
            "--source-ips",
            "127.0.0.2-127.0.0.3",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let obs = load_obs(&r);
    let counts = step_counts(&r);
    assert_eq!(counts.iter().map(|c| c[2]).sum::<u64>(), 240);
    assert_eq!(counts.iter().map(|c| c[3]).sum::<u64>(), 240);
    assert_eq!(obs["peak_open"], 240);
    let shards = obs["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    // Each process had a source address of its own.
    assert_eq!(
        shards[0]["generator"]["source_ips"],
        serde_json::json!(["127.0.0.2"])
    );
    assert_eq!(
        shards[1]["generator"]["source_ips"],
        serde_json::json!(["127.0.0.3"])
    );
    // The machine was checked once, by the parent, for the whole ramp (both
    // processes' addresses); a child checks none of its own.
    assert_eq!(
        obs["generator"]["machine"]["source_addresses"], 2,
        "{obs:#}"
    );
    assert!(
        shards.iter().all(|s| s["generator"]["machine"].is_null()),
        "{obs:#}"
    );
    assert!(obs["generator"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("2 processes"));
    // Both processes appended whole lines to one events file: one "opened"
    // per connection, each index once.
    let lines = events(&events_path);
    let mut opened: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "opened")
        .map(|l| l["conn"].as_u64().unwrap())
        .collect();
    opened.sort_unstable();
    assert_eq!(opened, (0..240).collect::<Vec<_>>());
    assert!(lines.iter().any(|l| l["shard"] == 0) && lines.iter().any(|l| l["shard"] == 1));
    assert!(lines
        .iter()
        .all(|l| l["conn"].as_u64().unwrap() % 2 == l["shard"].as_u64().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_lines_say_what_happened_to_each_connection() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let ev = events_path.to_str().unwrap();
    let out = spawn_load(&lab.url("/ws"), &["--events", ev])
        .wait_with_output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let lines = events(&events_path);
    assert_eq!(lines.len(), 240);
    for l in &lines {
        assert_eq!(l["event"], "opened", "{l}");
        assert!(
            l["conn"].is_u64() && l["handshake_us"].is_u64() && l["t_ms"].is_f64(),
            "{l}"
        );
        assert!(l.get("shard").is_none());
        // Connection i belongs to step i / 80 + 1.
        assert_eq!(
            l["step"].as_u64().unwrap(),
            l["conn"].as_u64().unwrap() / 80 + 1,
            "{l}"
        );
    }
    assert_eq!(step_counts(&r).iter().map(|c| c[3]).sum::<u64>(), 240);

    // Nothing listens: every connection is a "failed" line with its kind,
    // and the file is rewritten, not appended to.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = wsdoctor()
        .args([
            "load",
            &format!("ws://{closed}/ws"),
            "--json",
            "-c",
            "20",
            "--step",
            "20",
        ])
        .args(["--rate", "1000", "--hold", "100ms", "--events", ev])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = events(&events_path);
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l["event"] == "failed" && l["kind"] == "refused" && l["detail"].is_string()));

    // An events file that cannot be written is one clear line, exit 2.
    let out = wsdoctor()
        .args([
            "load",
            &lab.url("/ws"),
            "-c",
            "1",
            "--hold",
            "100ms",
            "--events",
        ])
        .arg(dir.path().join("no/such/dir/e.jsonl"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("wsdoctor: cannot open the events file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && cmdline.contains("--child") {
                found.push(pid);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn children_die_with_their_parent() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws");
    let mut parent = wsdoctor()
        .args([
            "load", &url, "-c", "40", "--rate", "200", "--hold", "30s", "--procs", "2", "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(&url).len() < 2 {
        assert!(Instant::now() < deadline, "the children did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: the parent gets no chance to clean up; its children notice
    // their stdin closing.
    parent.kill().unwrap();
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&url).is_empty() {
        assert!(
            Instant::now() < deadline,
            "children outlived their parent: {:?}",
            processes_with(&url)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generators_fd_limit_stays_its_own_after_merging() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let exe = assert_cmd::cargo::cargo_bin("wsdoctor");
    // Every process (parent and children) under a hard limit of 100 files.
    let script = format!(
        "ulimit -n 100 && exec {} load {} -c 300 --rate 3000 --step 300 --hold 300ms --procs 2 --json",
        exe.display(),
        lab.url("/ws")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let r = report(&out);
    let findings = r["findings"].as_array().unwrap();
    assert_eq!(findings[0]["subject"], "wsdoctor (this machine)", "{r:#}");
    assert!(findings[0]["title"]
        .as_str()
        .unwrap()
        .contains("file descriptors"));
    assert!(
        findings[0]["evidence"].to_string().contains("2 processes"),
        "{r:#}"
    );
    assert!(findings
        .iter()
        .all(|f| f["subject"] == "wsdoctor (this machine)" || f["id"] != "load-limit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_knee_of_a_server_cap_survives_the_merge() {
    // The lab serves at most 1,024 connections at once; two processes of
    // wsdoctor each see about half of that before their upgrades fail.
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let out = wsdoctor()
        .args([
            "load",
            &lab.url("/ws"),
            "--json",
            "-c",
            "1200",
            "--step",
            "300",
            "--rate",
            "3000",
        ])
        .args(["--step-hold", "300ms", "--hold", "500ms", "--procs", "2"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let f = &r["findings"][0];
    assert_eq!(f["id"], "load-limit", "{r:#}");
    assert!(
        f.get("subject").is_none(),
        "the server's limit, not ours: {f:#}"
    );
    let limit = f["measured"]["concurrency_limit"].as_u64().unwrap();
    eprintln!("lab cap 1024, 2 processes: knee at {limit}");
    assert!((990..=1030).contains(&limit), "knee at {limit}: {r:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn more_connections_than_the_file_limit_allows_spread_over_processes_on_their_own() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let exe = assert_cmd::cargo::cargo_bin("wsdoctor");
    // Under a hard limit of 1,024 files one process holds 793 connections:
    // 900 need two processes, chosen without --procs. The hold gives a
    // busy machine time to finish every handshake: one that completes only
    // after the ramp began closing the others never counts in the peak.
    let script = format!(
        "ulimit -n 1024 && exec {} load {} -c 900 --step 900 --rate 3000 --hold 2s --json",
        exe.display(),
        lab.url("/ws")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let obs = load_obs(&r);
    assert_eq!(obs["shards"].as_array().unwrap().len(), 2, "{r:#}");
    let note = obs["generator"]["notes"][0].as_str().unwrap();
    assert!(
        note.contains("on its own (--procs 2)") && note.contains("1,024"),
        "{note}"
    );
    assert_eq!(obs["steps"][0]["opened"], 900);
    assert_eq!(obs["peak_open"], 900);
    assert_eq!(r["findings"][0]["id"], "healthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_can_itself_run_as_processes() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws");
    let dir = tempfile::tempdir().unwrap();
    // Shard 0/2 in one process, shard 1/2 over two processes of its own.
    let a = spawn_load(&url, &["--shard", "0/2"]);
    let b = spawn_load(&url, &["--shard", "1/2", "--procs", "2"]);
    let mut files = Vec::new();
    for (name, child) in [("a.json", a), ("b.json", b)] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().join(name);
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path);
    }
    let b = report_from(&std::fs::read(&files[1]).unwrap(), b"");
    assert_eq!(
        load_obs(&b)["shard"],
        serde_json::json!({ "index": 1, "count": 2 })
    );
    let out = merge(&[&files[0], &files[1]], &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = report(&out);
    let counts = step_counts(&merged);
    assert_eq!(
        counts.iter().map(|c| c[2]).collect::<Vec<_>>(),
        [80, 80, 80]
    );
    assert_eq!(
        counts.iter().map(|c| c[3]).collect::<Vec<_>>(),
        [80, 80, 80]
    );
    assert_eq!(load_obs(&merged)["peak_open"], 240);
}

//! `wsdoctor lint --format sarif` against the published SARIF 2.1.0 schema
//! (`schema/sarif-schema-2.1.0.json`, OASIS errata 01), and the inline
//! `# wsdoctor: ignore ID…` comments: a silenced finding is reported as
//! silenced (text, JSON, SARIF `inSource` suppression), never dropped, and
//! does not count toward the exit status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// nginx: `/ws` has a 30 s timer, `/live` forwards no upgrade at all.
const NGINX: &str = "events {}
http {
    server {
        listen 127.0.0.1:8080;
        location /ws {
            proxy_pass http://127.0.0.1:3000;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout 30s;{WS}
        }
{LIVE}        location /live {
            proxy_pass http://127.0.0.1:3000;
        }
    }
}
";

fn nginx(ws_comment: &str, live_comment: &str) -> String {
    NGINX
        .replace("{WS}", ws_comment)
        .replace("{LIVE}", live_comment)
}

/// `wsdoctor lint FILE --app-ping 45s ARGS…`, run in `dir` so the paths in
/// the output are relative (as in a CI checkout).
fn lint(dir: &Path, file: &str, args: &[&str]) -> Output {
    Command::cargo_bin("wsdoctor")
        .unwrap()
        .current_dir(dir)
        .args(["lint", file, "--app-ping", "45s", "--color", "never"])
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn sarif_errors(log: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(include_str!("../schema/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator.iter_errors(log).map(|e| e.to_string()).collect()
}

fn sarif_validate(log: &Value) {
    let errors = sarif_errors(log);
    assert!(errors.is_empty(), "not SARIF 2.1.0: {errors:#?}");
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Applies one SARIF fix's replacements (character offsets) to `text`.
fn apply_fix(text: &str, fix: &Value) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let change = &fix["artifactChanges"][0];
    let mut replacements: Vec<&Value> = change["replacements"].as_array().unwrap().iter().collect();
    replacements.sort_by_key(|r| std::cmp::Reverse(r["deletedRegion"]["charOffset"].as_u64()));
    for r in replacements {
        let at = usize::try_from(r["deletedRegion"]["charOffset"].as_u64().unwrap()).unwrap();
        let len = usize::try_from(r["deletedRegion"]["charLength"].as_u64().unwrap()).unwrap();
        let inserted = r["insertedContent"]["text"].as_str().unwrap_or("");
        chars.splice(at..at + len, inserted.chars());
    }
    chars.into_iter().collect()
}

#[test]
fn sarif_log_follows_the_schema_with_regions_rules_and_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let text = nginx("", "");
    write(dir.path(), "nginx.conf", &text);
    let out = lint(dir.path(), "nginx.conf", &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "errors remain: exit 1");
    let log = json(&out);
    sarif_validate(&log);
    assert_eq!(log["version"], "2.1.0");
    // The schema check can fail: a level SARIF does not know is refused.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!sarif_errors(&broken).is_empty());
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"upgrade-not-forwarded"), "{rules:?}");
    assert!(rules.contains(&"heartbeat-too-slow"), "{rules:?}");
    for rule in run["tool"]["driver"]["rules"].as_array().unwrap() {
        let help = rule["help"]["text"].as_str().unwrap();
        assert!(help.contains("Fix:"), "{help}");
    }
    let results = run["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r.get("suppressions").is_none()));
    // The heartbeat finding points at `proxy_read_timeout` on line 10,
    // column 13, and its rule is where ruleIndex says.
    let slow = results
        .iter()
        .find(|r| r["ruleId"] == "heartbeat-too-slow")
        .unwrap();
    let location = &slow["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "nginx.conf");
    assert_eq!(location["artifactLocation"]["uriBaseId"], "SRCROOT");
    assert_eq!(location["region"]["startLine"], 10);
    assert_eq!(location["region"]["startColumn"], 13);
    assert_eq!(
        location["region"]["endColumn"],
        13 + "proxy_read_timeout".len()
    );
    let index = usize::try_from(slow["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(rules[index], "heartbeat-too-slow");
    // The upgrade fix, applied from the SARIF alone, adds the headers
    // inside location /live, indented like its body (what --fix does).
    let upgrade = results
        .iter()
        .find(|r| r["ruleId"] == "upgrade-not-forwarded" && r.get("fixes").is_some())
        .unwrap();
    let fixed = apply_fix(&text, &upgrade["fixes"][0]);
    let live = fixed.find("location /live {").unwrap();
    assert!(
        fixed[live..].contains("\n            proxy_set_header Upgrade $http_upgrade;\n"),
        "{fixed}"
    );
}

#[test]
fn silenced_findings_are_reported_everywhere_and_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let text = nginx(
        " # wsdoctor: ignore heartbeat-too-slow, idle-timeout -- clients ping every 20s",
        "        # wsdoctor: ignore upgrade-not-forwarded\n",
    );
    write(dir.path(), "nginx.conf", &text);

    // Text: a short silenced list, a healthy verdict, exit 0.
    let out = lint(dir.path(), "nginx.conf", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("silenced ("), "{stdout}");
    assert!(
        stdout.contains("nginx.conf:10:13: heartbeat-too-slow (by the comment at nginx.conf:10: clients ping every 20s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("error["), "{stdout}");

    // JSON: findings that count are gone from `findings`, kept under
    // `silenced` with the directive; the report follows its schema.
    let report = json(&lint(dir.path(), "nginx.conf", &["--json"]));
    support::schema_validate(&report);
    assert_eq!(report["verdict"], "healthy");
    let silenced = report["silenced"].as_array().unwrap();
    assert!(silenced.len() >= 3, "{silenced:#?}");
    let live = silenced
        .iter()
        .find(|s| s["id"] == "upgrade-not-forwarded")
        .unwrap();
    assert_eq!(live["silenced_by"]["line"], 12);
    assert_eq!(live["silenced_by"]["first_line"], 13);
    assert_eq!(live["silenced_by"]["last_line"], 15);

    // SARIF: every silenced result carries an inSource suppression with
    // the reason, and the log still validates.
    let out = lint(dir.path(), "nginx.conf", &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(0));
    let log = json(&out);
    sarif_validate(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let slow = results
        .iter()
        .find(|r| r["ruleId"] == "heartbeat-too-slow")
        .unwrap();
    assert_eq!(slow["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        slow["suppressions"][0]["justification"],
        "clients ping every 20s"
    );
    let upgrades: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"] == "upgrade-not-forwarded")
        .collect();
    assert!(!upgrades.is_empty());
    assert!(upgrades
        .iter()
        .all(|r| r["suppressions"][0]["kind"] == "inSource"));
}

#[test]
fn a_directive_silences_only_what_it_names_and_where() {
    let dir = tempfile::tempdir().unwrap();
    // Only the /ws line is silenced, and only for heartbeat-too-slow: the
    // /live block still fails the run.
    write(
        dir.path(),
        "nginx.conf",
        &nginx(" # wsdoctor: ignore heartbeat-too-slow", ""),
    );
    let out = lint(dir.path(), "nginx.conf", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("error[upgrade-not-forwarded]"), "{stdout}");
    assert!(!stdout.contains("error[heartbeat-too-slow]"), "{stdout}");
    assert!(stdout.contains("silenced (1)"), "{stdout}");

    // A misspelt id silences nothing, and says so.
    write(
        dir.path(),
        "typo.conf",
        &nginx(" # wsdoctor: ignore heartbeat-to-slow", ""),
    );
    let out = lint(dir.path(), "typo.conf", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("error[heartbeat-too-slow]"), "{stdout}");
    assert!(
        stdout.contains("`wsdoctor: ignore heartbeat-to-slow` names no finding id"),
        "{stdout}"
    );
}

#[test]
fn haproxy_section_and_kubernetes_key_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "haproxy.cfg",
        "defaults
    mode http
    timeout connect 5s
    timeout client  30s
    timeout server  30s

frontend fe
    bind 127.0.0.1:8080
    default_backend be_ws

# wsdoctor: ignore heartbeat-too-slow -- the app pings every 20s
backend be_ws
    timeout server  30s
    server app 127.0.0.1:3000
",
    );
    write(
        dir.path(),
        "ingress.yaml",
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  # wsdoctor: ignore heartbeat-too-slow
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: \"30\"
    nginx.ingress.kubernetes.io/proxy-send-timeout: \"30\"
spec:
  ingressClassName: nginx
  rules:
  - host: chat.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend:
          service:
            name: chat
            port:
              number: 80
",
    );
    for (file, line) in [("haproxy.cfg", 13), ("ingress.yaml", 7)] {
        let out = lint(dir.path(), file, &["--json"]);
        let report = json(&out);
        support::schema_validate(&report);
        assert_eq!(out.status.code(), Some(0), "{report:#}");
        let silenced = report["silenced"].as_array().unwrap();
        assert_eq!(silenced.len(), 1, "{report:#}");
        assert_eq!(silenced[0]["id"], "heartbeat-too-slow");
        assert_eq!(silenced[0]["span"]["line"], line);
    }
    // Without the comments both files fail.
    for file in ["haproxy.cfg", "ingress.yaml"] {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let bare: String = text
            .lines()
            .filter(|l| !l.contains("wsdoctor:"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, bare).unwrap();
        let out = lint(dir.path(), file, &[]);
        assert_eq!(out.status.code(), Some(1), "{file}");
    }
}

/// GitHub code scanning rejects a whole log if one result has no physical
/// location: a finding about a `--via` hop (no line in the files) is
/// anchored at the first file read, and says so.
#[test]
fn every_result_has_a_physical_location() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nginx.conf", &nginx("", ""));
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "lint",
            "nginx.conf",
            "--via",
            "aws-alb",
            "--app-ping",
            "70s",
        ])
        .args(["--format", "sarif"])
        .output()
        .unwrap();
    let log = json(&out);
    sarif_validate(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let anchored: Vec<&Value> = results
        .iter()
        .filter(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .contains("anchored at")
        })
        .collect();
    assert!(!anchored.is_empty(), "{results:#?}");
    for r in results {
        let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(uri, "nginx.conf", "{r:#}");
    }
}

#[test]
fn format_conflicts_with_fix_and_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nginx.conf", &nginx("", ""));
    for extra in [
        &["--format", "sarif", "--fix"][..],
        &["--format", "sarif", "--json"],
    ] {
        let out = lint(dir.path(), "nginx.conf", extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
}

/// Microsoft's SARIF Multitool (`tests/peers/sarif`, installed by `.ci/run`
/// with `npm ci`), or a skip (a failure under CI).
fn multitool() -> Option<std::path::PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/sarif/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install the SARIF Multitool (npm ci in tests/peers/sarif, see .ci/run)"
    );
    eprintln!("skipped: no SARIF Multitool (npm ci in tests/peers/sarif)");
    None
}

/// Runs the Multitool's `validate` with the SARIF rules and GitHub's
/// ingestion rules (GH1001…: what code scanning refuses); returns its
/// error lines.
fn multitool_errors(bin: &Path, log: &Path, dir: &Path) -> Vec<String> {
    let out = Command::new(bin)
        .arg("validate")
        .args(["--rule-kind", "Gh;Sarif", "--log", "ForceOverwrite"])
        .arg("-o")
        .arg(dir.join("validation.sarif"))
        .arg(log)
        // A self-contained .NET program: no telemetry, no first-run setup.
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Analysis completed successfully"),
        "the Multitool did not run: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| l.contains(": error "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn microsoft_sarif_multitool_accepts_the_log_for_github() {
    let Some(bin) = multitool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "nginx.conf",
        &nginx(
            " # wsdoctor: ignore heartbeat-too-slow -- pings every 20s",
            "",
        ),
    );
    // Active, silenced, fixable and --via (anchored) results together.
    let out = Command::cargo_bin("wsdoctor")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "lint",
            "nginx.conf",
            "--via",
            "aws-alb",
            "--app-ping",
            "70s",
        ])
        .args(["--format", "sarif"])
        .output()
        .unwrap();
    let log_path = dir.path().join("wsdoctor.sarif");
    std::fs::write(&log_path, &out.stdout).unwrap();
    let errors = multitool_errors(&bin, &log_path, dir.path());
    assert!(errors.is_empty(), "{errors:#?}");

    // The check can fail: without locations GitHub refuses the log.
    let mut broken = json(&out);
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("locations");
    let broken_path = dir.path().join("broken.sarif");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let errors = multitool_errors(&bin, &broken_path, dir.path());
    assert!(errors.iter().any(|e| e.contains("GH10")), "{errors:#?}");
}

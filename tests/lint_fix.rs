//! `wsdoctor lint nginx.conf --fix | patch -p1` on the config every
//! tutorial warns about (one `location /` with `proxy_pass` and no
//! Upgrade/Connection lines): stdout carries only the diff, real `patch`
//! applies it, real `nginx -t` accepts the result, and lint finds nothing
//! left to forward. Where several locations could be meant, stdout stays
//! empty and stderr names them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;

const CLASSIC: &str = "events {}
http {
    upstream app {
        server 127.0.0.1:3000;
    }
    server {
        listen 127.0.0.1:8080;
        server_name example.com;
        location / {
            proxy_pass http://app;
            proxy_set_header Host $host;
        }
    }
}
";

const TWO_PLAIN: &str = "events {}
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://127.0.0.1:3000;
        }
        location /api/ {
            proxy_pass http://127.0.0.1:4000;
        }
    }
}
";

const ONE_NAMED: &str = "events {}
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            root /srv/www;
            proxy_pass http://127.0.0.1:3000;
        }
        location /socket.io/ {
            proxy_pass http://127.0.0.1:4000;
        }
    }
}
";

/// `wsdoctor lint ARGS…` run in `dir` (so the diff's paths are relative to it).
fn lint(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("wsdoctor")
        .unwrap()
        .arg("lint")
        .args(args)
        .args(["--color", "never"])
        .current_dir(dir)
        .output()
        .unwrap()
}

fn patch(dir: &Path, diff: &[u8]) {
    let mut child = Command::new("patch")
        .args(["-p1", "--forward"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(diff).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "patch -p1 failed on:\n{}",
        String::from_utf8_lossy(diff)
    );
}

fn nginx_t(nginx: &str, conf: &Path) -> Result<(), String> {
    let prefix = tempfile::tempdir().unwrap();
    let out = Command::new(nginx)
        .args(["-t", "-q", "-e", "stderr", "-p"])
        .arg(prefix.path())
        .arg("-c")
        .arg(conf)
        .arg("-g")
        .arg(format!("pid {}/nginx.pid;", prefix.path().display()))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Writes `conf`, fixes it with `lint --fix | patch -p1`, and checks the
/// result with `nginx -t` and lint again; returns the diff.
fn fix_and_check(nginx: &str, conf: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let path = dir.path().join("nginx.conf");
    nginx_t(nginx, &path).unwrap_or_else(|e| panic!("before --fix: {e}"));
    let out = lint(dir.path(), &["nginx.conf", "--fix"]);
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.starts_with("--- a/nginx.conf\n+++ b/nginx.conf\n"),
        "stdout is not a diff:\n{diff}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    patch(dir.path(), diff.as_bytes());
    nginx_t(nginx, &path).unwrap_or_else(|e| panic!("after --fix: {e}\n{diff}"));
    // Nothing left to forward; with a heartbeat under nginx's 60 s
    // default read timeout, nothing left at all.
    let again = lint(dir.path(), &["nginx.conf", "--json", "--app-ping", "25s"]);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    support::schema_validate(&report);
    assert_eq!(again.status.code(), Some(0), "{report:#}\n{diff}");
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    diff
}

fn tools() -> Option<String> {
    let nginx = support::require("nginx")?;
    support::require("patch")?;
    Some(nginx)
}

#[test]
fn the_classic_single_location_is_fixed_by_the_diff() {
    let Some(nginx) = tools() else { return };
    let diff = fix_and_check(&nginx, CLASSIC);
    for line in [
        "+    map $http_upgrade $connection_upgrade {",
        "+            proxy_http_version 1.1;",
        "+            proxy_set_header Upgrade $http_upgrade;",
        "+            proxy_set_header Connection $connection_upgrade;",
        // Its own proxy_set_header lines keep applying.
        "             proxy_set_header Host $host;",
    ] {
        assert!(diff.contains(line), "no `{line}` in\n{diff}");
    }
}

#[test]
fn a_location_named_for_websockets_is_the_one_fixed() {
    let Some(nginx) = tools() else { return };
    let diff = fix_and_check(&nginx, ONE_NAMED);
    // The headers go under /socket.io/'s proxy_pass, not under /'s.
    assert!(
        diff.contains(
            "         location /socket.io/ {\n             proxy_pass http://127.0.0.1:4000;\n+            proxy_http_version 1.1;\n"
        ),
        "{diff}"
    );
    assert!(
        !diff.contains("proxy_pass http://127.0.0.1:3000;\n+"),
        "{diff}"
    );
}

#[test]
fn several_plain_locations_give_an_empty_diff_and_the_choice_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nginx.conf"), TWO_PLAIN).unwrap();
    let out = lint(dir.path(), &["nginx.conf", "--fix"]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    for said in [
        "2 proxied locations could carry WebSockets",
        "location / → http://127.0.0.1:3000 (nginx.conf:6)",
        "location /api/ → http://127.0.0.1:4000 (nginx.conf:9)",
        "proxy_set_header Upgrade $http_upgrade;",
        "the diff is empty",
    ] {
        assert!(stderr.contains(said), "no `{said}` in\n{stderr}");
    }
}

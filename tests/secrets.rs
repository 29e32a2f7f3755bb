//! No secret reaches any output, errors included (issue 19 items 5 and 6):
//! every error path of every connecting command, through the binary, and a
//! bearer token passed as a subprotocol, probed against `wsdoctor serve`
//! (text, JSON, HTML and serve's `--events`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

use support::KillOnDrop as Killed;

/// Runs the binary with `env` set; returns (exit code, stdout, stderr).
fn wsdoctor(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::cargo_bin("wsdoctor").unwrap();
    command.args(args).env("NO_COLOR", "1");
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        // CI exports NO_PROXY=127.0.0.1,…, which would keep the bad
        // HTTPS_PROXY case from ever reading its proxy.
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every word here is a secret planted in the input; none may come out.
const SECRETS: &[&str] = &["PASSW0RD", "T0KEN", "B3ARER", "FR4G"];

fn assert_clean(what: &str, output: &str) {
    for secret in SECRETS {
        assert!(
            !output.contains(secret),
            "{what}: `{secret}` leaked: {output}"
        );
    }
}

/// Extra arguments, environment, and what the error must still say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn no_error_of_any_connecting_command_quotes_a_secret() {
    let bad_url = "ws://bob:PASSW0RD@127.0.0.1:99999/?token=T0KEN";
    let http_url = "http://bob:PASSW0RD@127.0.0.1:9/ws?token=T0KEN#access_token=FR4G";
    let slash_in_password = "ws://bob:PASS/W0RD@PASSW0RD@127.0.0.1:99999/";
    let bad_proxy = "http://u:PASSW0RD@127.0.0.1:99999/?token=T0KEN";
    let ok_url = "ws://127.0.0.1:9/ws";
    let cases: Vec<Case<'_>> = vec![
        (vec![bad_url], vec![], "is not a valid URL"),
        (vec![slash_in_password], vec![], "is not a valid URL"),
        (
            vec![http_url],
            vec![],
            "try ws://REDACTED@127.0.0.1:9/ws?token=REDACTED",
        ),
        (
            vec![ok_url, "-H", "Authorization Bearer B3ARER"],
            vec![],
            "has no ':'",
        ),
        (
            vec![ok_url, "-H", "Authorization Bearer B3ARER: x"],
            vec![],
            "is not a valid HTTP header name",
        ),
        (
            vec![ok_url, "--proxy", bad_proxy],
            vec![],
            "proxy 'http://REDACTED@",
        ),
        (
            vec!["wss://127.0.0.1:9/ws"],
            vec![("HTTPS_PROXY", bad_proxy)],
            "proxy 'http://REDACTED@",
        ),
        (
            vec![ok_url, "--proxy", "ftp://u:PASSW0RD@127.0.0.1/"],
            vec![],
            "unsupported scheme",
        ),
    ];
    let commands: &[&[&str]] = &[
        &["probe"],
        &["idle"],
        &["watch"],
        &["load", "-c", "1"],
        &["flow", "--expect-every", "1s"],
    ];
    for command in commands {
        for (extra, env, needle) in &cases {
            let args = [*command, &extra[..]].concat();
            let (code, stdout, stderr) = wsdoctor(&args, env);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
            assert_clean(&format!("{args:?}"), &stdout);
            assert_clean(&format!("{args:?}"), &stderr);
        }
    }
    // clap's own usage errors quote what was typed too.
    for args in [
        &["reconnect", bad_url][..],
        &["probe", ok_url, "--watch", bad_url][..],
    ] {
        let (code, _, stderr) = wsdoctor(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("REDACTED"), "{args:?}: {stderr}");
        assert_clean(&format!("{args:?}"), &stderr);
    }
}

#[test]
fn a_token_passed_as_a_subprotocol_reaches_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let html = dir.path().join("report.html");
    // Port 0 and the address its banner names (said once it listens).
    let (server, addr) = support::spawn_listening(
        Command::cargo_bin("wsdoctor")
            .unwrap()
            .args(["serve", "--listen", "127.0.0.1:0", "--events"])
            .arg(&events)
            .stdout(Stdio::null()),
        "ws",
    );
    let server = Killed(server);
    let url = format!("ws://{addr}/ws#access_token=FR4G");
    // Kubernetes' form first (serve selects the first offered, so the
    // token comes back in the 101 too), then the `access_token` pair.
    let probe = |extra: &[&str]| {
        let mut args = vec![
            "probe",
            url.as_str(),
            "--watch",
            "300ms",
            "--subprotocol",
            "base64url.bearer.authorization.k8s.io.B3ARER",
            "--subprotocol",
            "access_token",
            "--subprotocol",
            "T0KEN",
        ];
        args.extend_from_slice(extra);
        wsdoctor(&args, &[])
    };
    let (code, json, stderr) = probe(&["--json"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let (_, text, _) = probe(&["--html", html.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html).unwrap();
    for (what, output) in [("json", &json), ("text", &text), ("html", &html)] {
        assert_clean(what, output);
    }
    // The subprotocols were recorded (so the test can fail), redacted, and
    // serve's choice still counts as one we offered.
    assert!(
        json.contains("base64url.bearer.authorization.k8s.io.REDACTED, access_token, REDACTED"),
        "{json}"
    );
    assert!(!json.contains("unrequested"), "{json}");
    // serve writes a connection's event when it ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut written = String::new();
    while Instant::now() < deadline {
        written = std::fs::read_to_string(&events).unwrap_or_default();
        if written.lines().count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    assert!(written.lines().count() >= 2, "serve's events: {written}");
    assert!(written.contains("k8s.io.REDACTED"), "{written}");
    assert_clean("serve --events", &written);
}

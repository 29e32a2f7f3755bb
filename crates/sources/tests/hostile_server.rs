//! The probe against a hostile server (tests/peers/hostile_server.py, a
//! standard-library Python script on 127.0.0.1): one that floods pings and
//! then stops reading, and one that sends text that is not UTF-8.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsdoctor_evidence::{ConnectionEnd, ProbeEvidence};
use wsdoctor_sources::conn::{ConnectOptions, Target};
use wsdoctor_sources::probe::{run, ProbeConfig};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The hostile server in `mode`, and its port; `None` (a skip) without
/// python3, except under CI.
fn hostile(args: &[&str]) -> Option<(Peer, u16)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/peers/hostile_server.py"
    );
    let child = Command::new("python3")
        .arg("-u")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(std::env::var_os("CI").is_none(), "CI must install python3");
        eprintln!("skipped: python3 is not installed");
        return None;
    };
    let mut peer = Peer(child);
    let mut line = String::new();
    BufReader::new(peer.0.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    Some((peer, line.trim().parse().expect("the peer prints its port")))
}

fn config(port: u16, watch: Duration) -> ProbeConfig {
    let url = format!("ws://127.0.0.1:{port}/");
    let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(&url).unwrap()));
    config.watch = watch;
    config
}

fn end(e: &ProbeEvidence) -> ConnectionEnd {
    e.connection.end.clone().expect("ended").end
}

#[tokio::test]
async fn a_server_that_stops_reading_ends_the_probe_on_time_as_such() {
    let Some((_peer, port)) = hostile(&["flood-then-deaf", "2"]) else {
        return;
    };
    // More than the kernel buffers of both sides hold, so our writes block.
    let mut c = config(port, Duration::from_secs(2));
    c.messages = vec!["x".repeat(1 << 20); 12];
    c.send_every = Duration::from_millis(1);
    let started = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(30), run(&c, None))
        .await
        .expect("the probe returns");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} for a 2 s watch"
    );
    match end(&e) {
        ConnectionEnd::PeerStoppedReading {
            queued_bytes,
            blocked_ms,
        } => {
            assert!(queued_bytes > 0);
            assert!(blocked_ms > 500, "{blocked_ms} ms");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_floods_pings_then_stops_reading_does_not_hang_the_probe() {
    let Some((_peer, port)) = hostile(&["flood-then-deaf", "8"]) else {
        return;
    };
    let started = Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        run(&config(port, Duration::from_secs(2)), None),
    )
    .await
    .expect("the probe returns");
    let took = started.elapsed();
    // A probe stuck in its blocked pong write would wait out the write
    // deadline (the connect timeout, 10 s) or hang: far past this.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // On the probe's own clock from the 101 (connecting to a Python peer on
    // a loaded machine is not what is timed here): the watch, then at most
    // a second for the close answer that never comes.
    let open_for = e
        .connection
        .end
        .as_ref()
        .and_then(|end| end.open_for_us)
        .map(Duration::from_micros);
    assert!(
        open_for.is_some_and(|t| t < Duration::from_millis(3_500)),
        "open for {open_for:?} of a 2 s watch (took {took:?} in all)"
    );
    eprintln!("open for {open_for:?}, {took:?} in all");
    assert!(
        !matches!(
            end(&e),
            ConnectionEnd::CloseHandshake { answered: true, .. }
        ),
        "{:?}",
        end(&e)
    );
}

#[tokio::test]
async fn text_that_is_not_utf8_from_the_server_is_a_violation() {
    let Some((_peer, port)) = hostile(&["bad-utf8"]) else {
        return;
    };
    let e = run(&config(port, Duration::from_secs(2)), None).await;
    match end(&e) {
        ConnectionEnd::ProtocolViolation { rule } => {
            assert!(rule.contains("UTF-8") && rule.contains("§8.1"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_blocked_write_is_given_up_after_the_connect_timeout() {
    let Some((_peer, port)) = hostile(&["flood-then-deaf", "1"]) else {
        return;
    };
    let mut c = config(port, Duration::from_secs(20));
    c.connect.connect_timeout = Duration::from_secs(1);
    c.messages = vec!["x".repeat(1 << 20); 12];
    c.send_every = Duration::from_millis(1);
    let started = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(30), run(&c, None))
        .await
        .expect("the probe returns");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} of a 20 s watch"
    );
    assert!(
        matches!(end(&e), ConnectionEnd::PeerStoppedReading { blocked_ms, .. } if (1_000..2_000).contains(&blocked_ms)),
        "{:?}",
        end(&e)
    );
}

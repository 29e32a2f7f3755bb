//! Shards run for real against the lab, in this process: merged, they give
//! the single run's counts, and their percentiles are those of the shards'
//! histograms added up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wsdoctor_evidence::load::{LoadEvidence, LoadStep};
use wsdoctor_lab::{LabConfig, LabServer};

use super::{hist, merge, run_with, LoadConfig, Shard, ShardResult};
use crate::conn::{ConnectOptions, Target};

fn config(url: &str, shard: Option<Shard>) -> LoadConfig {
    let target = Target::parse(url).unwrap();
    let mut c = LoadConfig::new(ConnectOptions::new(target), 120);
    c.rate = 1000.0;
    c.step = 40;
    c.step_hold = Duration::from_millis(200);
    c.hold = Duration::from_millis(500);
    c.message_every = Some(Duration::from_millis(100));
    c.shard = shard;
    c
}

fn counts(s: &LoadStep) -> (u32, u64, u64, u64, u64) {
    (s.index, s.target, s.attempted, s.opened, s.open_at_end)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_shards_merge_into_the_single_run() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let url = lab.url("/ws");
    let whole = run_with(&config(&url, None), None, None).await.evidence;
    let shards: Vec<LoadEvidence> = futures_util::future::join_all((0..3).map(|i| {
        let c = config(&url, Shard::new(i, 3).ok());
        async move { run_with(&c, None, None).await.evidence }
    }))
    .await;
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(
            s.steps.iter().map(|s| s.attempted).sum::<u64>(),
            40,
            "shard {i}"
        );
    }
    let results: Vec<ShardResult> = shards
        .iter()
        .enumerate()
        .map(|(i, e)| ShardResult {
            label: format!("shard {i}"),
            evidence: e.clone(),
        })
        .collect();
    let merged = merge(&results, false).unwrap().evidence;
    assert_eq!(
        merged.steps.iter().map(counts).collect::<Vec<_>>(),
        whole.steps.iter().map(counts).collect::<Vec<_>>()
    );
    assert_eq!(merged.peak_open, whole.peak_open);
    for (i, step) in merged.steps.iter().enumerate() {
        // The merged percentiles are those of the shards' histograms added
        // bucket by bucket.
        let mut sum = hist::histogram().unwrap();
        for s in &shards {
            let h = hist::decode(s.steps[i].handshake.histogram.as_ref().unwrap()).unwrap();
            sum.add(&h).unwrap();
        }
        assert_eq!(step.handshake, hist::latency(Some(&sum)));
        assert_eq!(step.handshake.count, whole.steps[i].handshake.count);
        let echoes: u64 = shards.iter().map(|s| s.steps[i].echo_rtt.count).sum();
        assert_eq!(step.echo_rtt.count, echoes);
    }
    // Connections report their echoes when they end, in the last step.
    assert!(merged.steps.iter().map(|s| s.echo_rtt.count).sum::<u64>() > 0);
}

#[test]
fn attempts_that_never_answered_are_counted() {
    let mut step = LoadStep {
        attempted: 10,
        opened: 6,
        failures: [(wsdoctor_evidence::load::FailureKind::Refused, 1)]
            .into_iter()
            .collect(),
        open_at_end: 5,
        ..LoadStep::default()
    };
    super::count_pending(&mut step);
    assert_eq!(
        step.failures[&wsdoctor_evidence::load::FailureKind::PendingAtEnd],
        3
    );
    assert_eq!(step.failure_samples[0].at_concurrency, 5);
    let before = step.clone();
    step.attempted = 7;
    step.failures
        .remove(&wsdoctor_evidence::load::FailureKind::PendingAtEnd);
    step.failure_samples.clear();
    super::count_pending(&mut step);
    assert!(!step
        .failures
        .contains_key(&wsdoctor_evidence::load::FailureKind::PendingAtEnd));
    assert_ne!(before, step);
}

#[tokio::test]
async fn the_pool_dials_only_plain_http1_targets_without_a_proxy() {
    let options = |url: &str| ConnectOptions::new(Target::parse(url).unwrap());
    let plain = options("ws://127.0.0.1:9/ws");
    assert_eq!(
        super::pool_dial_address(&plain).await,
        Some("127.0.0.1:9".parse().unwrap())
    );
    assert_eq!(
        super::pool_dial_address(&options("ws://[::1]:9/")).await,
        Some("[::1]:9".parse().unwrap())
    );
    // TLS, HTTP/2 and forward proxies are tokio's.
    assert_eq!(
        super::pool_dial_address(&options("wss://127.0.0.1:9/")).await,
        None
    );
    let mut h2 = options("ws://127.0.0.1:9/");
    h2.http = crate::conn::HttpVersion::Http2;
    assert_eq!(super::pool_dial_address(&h2).await, None);
    let mut proxied = options("ws://127.0.0.1:9/");
    proxied.proxy =
        Some(crate::conn::ForwardProxy::parse("http://127.0.0.1:3128", "--proxy").unwrap());
    assert_eq!(super::pool_dial_address(&proxied).await, None);
}

fn refusal(edit: impl FnOnce(&mut LoadConfig)) -> Option<String> {
    let mut c = config("ws://127.0.0.1:9/", None);
    edit(&mut c);
    c.validated().err().map(|e| e.to_string())
}

#[test]
fn the_constructor_holds_the_bounds() {
    assert_eq!(refusal(|_| {}), None);
    let count = Some("-c must be between 1 and 1000000");
    assert_eq!(refusal(|c| c.concurrency = 0).as_deref(), count);
    assert_eq!(refusal(|c| c.concurrency = 1_000_001).as_deref(), count);
    let rate = Some("--rate must be more than 0 and at most 100000 per second");
    assert_eq!(refusal(|c| c.rate = 0.0).as_deref(), rate);
    assert_eq!(refusal(|c| c.rate = f64::NAN).as_deref(), rate);
    assert_eq!(refusal(|c| c.rate = 100_000.5).as_deref(), rate);
    assert_eq!(
        refusal(|c| c.step = 0).as_deref(),
        Some("--step must be at least 1")
    );
    assert_eq!(
        refusal(|c| c.message_size = 16 * 1024 * 1024 + 1).as_deref(),
        Some("--size is at most 16 MiB")
    );
}

#[test]
fn source_ranges() {
    use super::scale::parse_source_range;
    assert_eq!(parse_source_range("127.0.0.2-127.0.0.4").unwrap().len(), 3);
    assert_eq!(parse_source_range("127.0.0.9").unwrap().len(), 1);
    assert!(parse_source_range("127.0.0.9-127.0.0.2").is_err());
    assert!(parse_source_range("10.0.0.0-10.1.0.0").is_err());
    let e = parse_source_range("nope").unwrap_err().to_string();
    assert!(e.starts_with("'nope' is not an IPv4 address"), "{e}");
}

/// The live status's failures and drops are the steps' own counts: its
/// last word agrees with the evidence (every connection refused with a 503,
/// every one reset 100 ms after it opened).
#[tokio::test(flavor = "multi_thread")]
async fn the_live_totals_are_the_steps_counts() {
    use std::sync::{Arc, Mutex};
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    for (fault, want_failed, want_dropped) in
        [("status:503", true, false), ("rst:100ms", false, true)]
    {
        let mut c = config(&lab.url(&format!("/ws?fault={fault}")), None);
        c.concurrency = 20;
        c.step = 10;
        c.message_every = None;
        c.stop_failure_share = 2.0;
        let last = Arc::new(Mutex::new((0u64, 0u64)));
        let seen = Arc::clone(&last);
        let sink: crate::ProgressSink = Arc::new(move |p| {
            if let crate::Progress::Load {
                failed, dropped, ..
            } = p
            {
                *seen.lock().unwrap() = (failed, dropped);
            }
        });
        let e = super::run(&c, Some(sink)).await;
        let failed: u64 = e.steps.iter().map(LoadStep::failed).sum();
        let dropped: u64 = e.steps.iter().map(LoadStep::dropped).sum();
        assert_eq!(
            (failed == 20, dropped == 20),
            (want_failed, want_dropped),
            "{fault}: {e:#?}"
        );
        assert_eq!(*last.lock().unwrap(), (failed, dropped), "{fault}");
    }
}

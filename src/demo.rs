//! `wsdoctor demo`: starts the built-in lab on 127.0.0.1, probes it once per
//! failure the runbook knows, and shows that each one is diagnosed as what
//! it is. Nothing leaves the machine.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use wsdoctor_diagnosis::{CauseId, Finding};
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy};
use wsdoctor_lab::{LabConfig, LabServer};
use wsdoctor_sources::conn::{ConnectOptions, Target};
use wsdoctor_sources::probe::ProbeConfig;

use crate::args::DemoArgs;
use crate::output::{self, Spinner};
use crate::probe::{diagnose, probe_all};

/// One demo case: what the lab does, and the cause wsdoctor should name.
struct Scenario {
    name: &'static str,
    what_the_lab_does: &'static str,
    path: &'static str,
    expect: CauseId,
    our_pings: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy echo server",
        what_the_lab_does: "echoes messages, pings every 1 s",
        path: "/ws?fault=ping:1s",
        expect: CauseId::Healthy,
        our_pings: false,
    },
    Scenario {
        name: "proxy drops the Upgrade header",
        what_the_lab_does: "answers like nginx without proxy_set_header Upgrade: 400",
        path: "/ws?fault=status:400&server=nginx/1.24.0",
        expect: CauseId::UpgradeNotForwarded,
        our_pings: false,
    },
    Scenario {
        name: "backend down behind the proxy",
        what_the_lab_does: "answers 502 Bad Gateway as nginx",
        path: "/ws?fault=status:502&server=nginx/1.24.0",
        expect: CauseId::BackendUnavailable,
        our_pings: false,
    },
    Scenario {
        name: "broken handshake",
        what_the_lab_does: "101 with a wrong Sec-WebSocket-Accept",
        path: "/ws?fault=bad-accept",
        expect: CauseId::HandshakeInvalid,
        our_pings: false,
    },
    Scenario {
        name: "idle timer in a load balancer",
        what_the_lab_does: "closes TCP (FIN) after 1.5 s, no close frame",
        path: "/ws?fault=fin:1500ms",
        expect: CauseId::AbnormalClose,
        our_pings: false,
    },
    Scenario {
        name: "connection reset",
        what_the_lab_does: "resets TCP (RST) after 1 s",
        path: "/ws?fault=rst:1s",
        expect: CauseId::AbnormalClose,
        our_pings: false,
    },
    Scenario {
        name: "exception in the handler",
        what_the_lab_does: "closes with 1011 after 1 s",
        path: "/ws?fault=close:1011:1s&reason=internal%20error",
        expect: CauseId::ServerError,
        our_pings: false,
    },
    Scenario {
        name: "server restart",
        what_the_lab_does: "closes with 1012 after 1 s",
        path: "/ws?fault=close:1012:1s&reason=service%20restart",
        expect: CauseId::GoingAway,
        our_pings: false,
    },
    Scenario {
        name: "half-open path",
        what_the_lab_does: "stops answering pings (a NAT forgot the flow)",
        path: "/ws?fault=no-pong",
        expect: CauseId::AbnormalClose,
        our_pings: true,
    },
];

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let lab = LabServer::start(LabConfig::default())
        .await
        .context("starting the demo lab on 127.0.0.1")?;
    let started_at = SystemTime::now();
    let clock = Instant::now();

    let mut configs = Vec::new();
    for scenario in SCENARIOS {
        let target = Target::parse(&lab.url(scenario.path))?;
        let mut config = ProbeConfig::new(ConnectOptions::new(target));
        config.watch = args.watch;
        if scenario.expect == CauseId::Healthy {
            config.messages = vec!["hello from wsdoctor demo".to_owned()];
        }
        if scenario.our_pings {
            config.heartbeat = HeartbeatSettings {
                ping_interval_ms: Some(250),
                pong_timeout_ms: 750,
                pong_policy: PongPolicy::Answer,
            };
        }
        configs.push(config);
    }
    // A port nothing listens on: a probe of it is refused.
    let closed_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        probe.local_addr()?.port()
    };
    let mut refused = ProbeConfig::new(ConnectOptions::new(Target::parse(&format!(
        "ws://127.0.0.1:{closed_port}/ws"
    ))?));
    refused.watch = Duration::from_millis(100);
    configs.push(refused);

    let spinner = Spinner::new();
    let evidence = probe_all(configs, &spinner).await;
    spinner.finish();
    lab.shutdown().await;
    let per_target = diagnose(&evidence);

    let mut text = String::new();
    let style = output::style(&args.output);
    let mut as_expected = 0;
    let cases = SCENARIOS
        .iter()
        .map(|s| (s.name, s.what_the_lab_does, s.expect))
        .chain([(
            "nothing listens",
            "no server on the port",
            CauseId::ConnectRefused,
        )]);
    for ((name, what, expect), findings) in cases.zip(&per_target) {
        let top = findings.first().map(|f| f.id);
        let ok = top == Some(expect);
        as_expected += usize::from(ok);
        text.push_str(&format!(
            "── {name}: {what}\n   expected {}, wsdoctor says {}{}\n",
            expect.as_str(),
            top.map_or("nothing", CauseId::as_str),
            if ok { "" } else { "  ← MISMATCH" }
        ));
        let shown: Vec<Finding> = findings.iter().take(1).cloned().collect();
        for line in wsdoctor_report::text::render_findings(&shown, style).lines() {
            text.push_str("   ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    let total = per_target.len();
    text.push_str(&format!(
        "{as_expected} of {total} lab failures diagnosed as what they are.\nTry it on your own endpoint: wsdoctor probe wss://your.host/socket --watch 65s\n"
    ));

    let mut all: Vec<Finding> = per_target.into_iter().flatten().collect();
    wsdoctor_diagnosis::rank(&mut all);
    let targets = evidence
        .iter()
        .map(|e| e.connection.target.clone())
        .collect();
    let observations = serde_json::json!({ "probes": evidence });
    let report = wsdoctor_report::Report::new(
        "demo",
        targets,
        started_at,
        clock.elapsed(),
        all,
        observations,
    );
    output::emit(&args.output, &report, &text).context("writing the report")?;
    // The demo succeeds when every injected failure was recognised.
    Ok(if as_expected == total { 0 } else { 1 })
}

//! `wsdoctor demo`: starts `serve` and the fault proxy in-process on
//! 127.0.0.1, injects one failure of the runbook per scenario at a shrunk
//! time scale (a 60 s idle timeout becomes 1 s), probes every scenario at
//! once, and shows that each is diagnosed as what it is. Nothing leaves the
//! machine.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use wsdoctor_diagnosis::{CauseId, Finding};
use wsdoctor_evidence::idle::IdleEvidence;
use wsdoctor_evidence::{HeartbeatSettings, PongPolicy, ProbeEvidence};
use wsdoctor_lab::{DiagServer, LabProxy, ProxyConfig, ProxyFault, ServeConfig};
use wsdoctor_sources::conn::{ConnectOptions, Target};
use wsdoctor_sources::idle::IdleConfig;
use wsdoctor_sources::probe::ProbeConfig;

use crate::args::DemoArgs;
use crate::output::{self, Spinner};
use crate::probe::{diagnose, probe_all};

/// The demo's time scale: real products' 60 s become 1 s.
const TIME_SCALE: f64 = 1.0 / 60.0;
/// Shortest watch, so every timed fault (all at ≤ 1 s) fires inside it.
const MIN_WATCH: Duration = Duration::from_secs(2);

/// Where a scenario's failure comes from.
#[derive(Clone, Copy)]
enum Via {
    /// Through a fault proxy (faults or a preset) in front of `serve`.
    Proxy(&'static str),
    /// A proxy whose backend is down.
    ProxyToNothing,
    /// Straight to a port nothing listens on.
    ClosedPort,
}

/// One demo case: the injected failure and the cause wsdoctor should name.
struct Scenario {
    name: &'static str,
    via: Via,
    /// Path and query on `serve` (its own `fault=` misbehaviour).
    path: &'static str,
    expect: CauseId,
    /// Probe with our own pings (a half-open path shows only that way).
    our_pings: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy server, plain proxy",
        via: Via::Proxy(""),
        path: "/ws?fault=ping:500ms",
        expect: CauseId::Healthy,
        our_pings: false,
    },
    Scenario {
        name: "nginx without the Upgrade headers",
        via: Via::Proxy("nginx-no-upgrade"),
        path: "/ws",
        expect: CauseId::UpgradeNotForwarded,
        our_pings: false,
    },
    Scenario {
        name: "backend down behind the proxy",
        via: Via::ProxyToNothing,
        path: "/ws",
        expect: CauseId::BackendUnavailable,
        our_pings: false,
    },
    Scenario {
        name: "broken handshake from the app",
        via: Via::Proxy(""),
        path: "/ws?fault=bad-accept",
        expect: CauseId::HandshakeInvalid,
        our_pings: false,
    },
    Scenario {
        name: "AWS ALB idle timeout (60 s → 1 s)",
        via: Via::Proxy("alb"),
        path: "/ws",
        expect: CauseId::AbnormalClose,
        our_pings: false,
    },
    Scenario {
        name: "load balancer resets the flow",
        via: Via::Proxy("reset-after=1s"),
        path: "/ws",
        expect: CauseId::AbnormalClose,
        our_pings: false,
    },
    Scenario {
        name: "NAT forgets the flow (half-open)",
        via: Via::Proxy("blackhole-after=500ms"),
        path: "/ws",
        expect: CauseId::AbnormalClose,
        our_pings: true,
    },
    Scenario {
        name: "proxy drops pongs",
        via: Via::Proxy("drop-pongs"),
        path: "/ws",
        expect: CauseId::AbnormalClose,
        our_pings: true,
    },
    Scenario {
        name: "exception in the handler",
        via: Via::Proxy(""),
        path: "/ws?fault=close:1011:1s&reason=internal%20error",
        expect: CauseId::ServerError,
        our_pings: false,
    },
    Scenario {
        name: "server ends the session (1000)",
        via: Via::Proxy(""),
        path: "/ws?fault=close:1000:1s&reason=done%20for%20today",
        expect: CauseId::ServerClose,
        our_pings: false,
    },
    Scenario {
        name: "proxy restarts (inject 1012)",
        via: Via::Proxy("inject-close=1012@1s"),
        path: "/ws",
        expect: CauseId::GoingAway,
        our_pings: false,
    },
    Scenario {
        name: "nothing listens",
        via: Via::ClosedPort,
        path: "/ws",
        expect: CauseId::ConnectRefused,
        our_pings: false,
    },
];

/// Scenarios measured with the idle experiment instead of a probe: the
/// timer's value and which traffic resets it are the point.
const IDLE_SCENARIOS: &[(&str, &str, CauseId, &str)] = &[
    (
        "AWS ALB idle timeout, measured",
        "alb",
        CauseId::IdleTimeout,
        "either",
    ),
    (
        "hop ignores pings (API Gateway)",
        "idle-timeout=1s:fin:data-only",
        CauseId::IdleTimeout,
        "data",
    ),
    (
        "lifetime cap of 1.5 s",
        "max-lifetime=1500ms",
        CauseId::MaxLifetime,
        "",
    ),
];

/// A port with nothing behind it (bound, then released).
fn closed_port() -> anyhow::Result<std::net::SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(probe.local_addr()?)
}

/// The faults a scenario's text names: a preset, or a fault list.
fn proxy_faults(text: &str) -> anyhow::Result<Vec<ProxyFault>> {
    match ProxyFault::preset(text, TIME_SCALE) {
        Some(faults) => Ok(faults),
        None => Ok(ProxyFault::parse_list(text)?),
    }
}

/// What the table says was injected.
fn injected(s: &Scenario) -> String {
    let server = s
        .path
        .split_once("fault=")
        .map(|(_, f)| f.split('&').next().unwrap_or_default().to_owned());
    let proxy = match s.via {
        Via::Proxy("") => None,
        Via::Proxy(text) => Some(text.to_owned()),
        Via::ProxyToNothing => Some("upstream down".to_owned()),
        Via::ClosedPort => return "no listener on the port".to_owned(),
    };
    match (proxy, server) {
        (Some(p), Some(s)) => format!("proxy {p}; server {s}"),
        (Some(p), None) => format!("proxy {p}"),
        (None, Some(s)) => format!("server {s}"),
        (None, None) => "nothing".to_owned(),
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    // The server does not ping: the idle-timeout scenarios need silence.
    let server = DiagServer::start(ServeConfig {
        ping_interval: None,
        greet: false,
        instance: "demo".to_owned(),
        ..ServeConfig::default()
    })
    .await
    .context("starting the demo server on 127.0.0.1")?;
    let nothing = closed_port()?;
    let watch = args.watch.max(MIN_WATCH);

    let mut proxies = Vec::new();
    let configs = probe_configs(&server, nothing, watch, &mut proxies).await?;
    let idle_configs = idle_configs(&server, &mut proxies).await?;

    let spinner = Spinner::new();
    let idle_runs = idle_configs
        .iter()
        .map(|c| wsdoctor_sources::idle::run(c, None));
    let (evidence, idle_evidence) = tokio::join!(
        probe_all(configs, &spinner),
        futures_util::future::join_all(idle_runs)
    );
    spinner.finish();
    for proxy in proxies {
        proxy.shutdown().await;
    }
    server.shutdown().await;
    let per_target = diagnose(&evidence);

    let style = output::style(&args.output);
    let (mut text, mut as_expected) = table(&evidence, &per_target, style);
    let mut total = per_target.len();
    let (idle_text, idle_ok, idle_findings) = idle_table(&idle_evidence);
    text.push_str(&idle_text);
    total += idle_evidence.len();
    as_expected += idle_ok;
    let text = format!(
        "{text}\n{as_expected} of {total} lab failures diagnosed as what they are ({:.1} s).\n\
         Try it on your own endpoint: wsdoctor probe wss://your.host/socket --watch 65s\n",
        clock.elapsed().as_secs_f64()
    );

    let mut all: Vec<Finding> = per_target
        .into_iter()
        .flatten()
        .chain(idle_findings)
        .collect();
    wsdoctor_diagnosis::rank(&mut all);
    let targets = evidence
        .iter()
        .map(|e| e.connection.target.clone())
        .collect();
    let observations = serde_json::json!({ "probes": evidence, "idle": idle_evidence });
    let report = wsdoctor_report::Report::new(
        "demo",
        targets,
        started_at,
        clock.elapsed(),
        all,
        observations,
    );
    output::emit(&args.output, &report, &text).context("writing the report")?;
    if args.output.json && as_expected != total {
        // stdout is the JSON alone; which scenario missed is for a person.
        #[allow(clippy::print_stderr)]
        {
            eprint!("{text}");
        }
    }
    // The demo succeeds when every injected failure was recognised.
    Ok(if as_expected == total { 0 } else { 1 })
}

/// The probe of each scenario, starting the lab proxies it goes through
/// (kept in `proxies` until the demo ends).
async fn probe_configs(
    server: &DiagServer,
    nothing: std::net::SocketAddr,
    watch: Duration,
    proxies: &mut Vec<LabProxy>,
) -> anyhow::Result<Vec<ProbeConfig>> {
    let mut configs = Vec::new();
    for scenario in SCENARIOS {
        let url = match scenario.via {
            Via::ClosedPort => format!("ws://{nothing}{}", scenario.path),
            Via::Proxy(_) | Via::ProxyToNothing => {
                let (upstream, faults) = match scenario.via {
                    Via::Proxy(text) => (server.addr(), proxy_faults(text)?),
                    _ => (nothing, Vec::new()),
                };
                let proxy = LabProxy::start(ProxyConfig {
                    faults,
                    ..ProxyConfig::new(upstream)
                })
                .await
                .context("starting a demo proxy on 127.0.0.1")?;
                let url = proxy.url(scenario.path);
                proxies.push(proxy);
                url
            }
        };
        let mut config = ProbeConfig::new(ConnectOptions::new(Target::parse(&url)?));
        config.watch = watch;
        if scenario.expect == CauseId::Healthy {
            config.messages = vec!["hello from wsdoctor demo".to_owned()];
        }
        if matches!(scenario.via, Via::ClosedPort) {
            config.watch = Duration::from_millis(100);
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
    Ok(configs)
}

/// The idle experiment of each idle scenario, each behind a lab proxy of
/// its own (kept in `proxies`).
async fn idle_configs(
    server: &DiagServer,
    proxies: &mut Vec<LabProxy>,
) -> anyhow::Result<Vec<IdleConfig>> {
    let mut idle_configs = Vec::new();
    for (_, faults, _, _) in IDLE_SCENARIOS {
        let proxy = LabProxy::start(ProxyConfig {
            faults: proxy_faults(faults)?,
            ..ProxyConfig::new(server.addr())
        })
        .await
        .context("starting a demo proxy on 127.0.0.1")?;
        let mut config = IdleConfig::new(ConnectOptions::new(Target::parse(&proxy.url("/ws"))?));
        config.samples = 1;
        config.interval = Duration::from_millis(250);
        config.max = Duration::from_secs(5);
        // The survivors' watch for a server heartbeat, on the demo's scale.
        config.heartbeat_window =
            wsdoctor_sources::idle::DEFAULT_HEARTBEAT_WINDOW.mul_f64(TIME_SCALE);
        proxies.push(proxy);
        idle_configs.push(config);
    }
    Ok(idle_configs)
}

/// The idle experiments' rows: the text, how many were diagnosed as
/// expected, and their findings.
fn idle_table(idle_evidence: &[IdleEvidence]) -> (String, usize, Vec<Finding>) {
    let mut text = String::new();
    let mut as_expected = 0;
    let mut idle_findings = Vec::new();
    text.push_str(
        "\nidle experiments (wsdoctor idle: silent, ping and data connections side by side)\n",
    );
    for ((name, faults, expect, keepalive), e) in IDLE_SCENARIOS.iter().zip(idle_evidence) {
        let findings = wsdoctor_diagnosis::rules::idle::diagnose_idle(e);
        let top = findings.first();
        let ok = top.is_some_and(|f| {
            f.id == *expect
                && (keepalive.is_empty() || f.measured.keepalive_by.as_deref() == Some(*keepalive))
        });
        as_expected += usize::from(ok);
        let said = top.map_or_else(
            || "nothing".to_owned(),
            |f| match (
                &f.measured.idle_timeout_s,
                &f.measured.max_lifetime_s,
                &f.measured.keepalive_by,
            ) {
                (Some(t), _, Some(k)) => format!("{} {t:.2} s, kept alive by {k}", f.id.as_str()),
                (_, Some(t), _) => format!("{} {t:.2} s", f.id.as_str()),
                _ => f.id.as_str().to_owned(),
            },
        );
        text.push_str(&format!(
            "{:<36} {:<38} {:<40} {:<5} {:>5.1}s\n",
            name,
            format!("proxy {faults}"),
            said,
            if ok { "yes" } else { "NO" },
            e.ran_ms as f64 / 1000.0
        ));
        idle_findings.extend(findings);
    }
    (text, as_expected, idle_findings)
}

/// The table, then each scenario's top finding; and how many matched.
fn table(
    evidence: &[ProbeEvidence],
    per_target: &[Vec<Finding>],
    style: wsdoctor_report::text::Style,
) -> (String, usize) {
    let mut text = format!(
        "{:<36} {:<38} {:<22} {:<5} {:>6}\n",
        "scenario", "injected", "wsdoctor says", "match", "time"
    );
    let mut details = String::new();
    let mut as_expected = 0;
    for ((scenario, findings), e) in SCENARIOS.iter().zip(per_target).zip(evidence) {
        let top = findings.first().map(|f| f.id);
        let ok = top == Some(scenario.expect);
        as_expected += usize::from(ok);
        let took = e
            .connection
            .end
            .as_ref()
            .map_or(0.0, |end| end.at_us as f64 / 1e6);
        text.push_str(&format!(
            "{:<36} {:<38} {:<22} {:<5} {:>5.1}s\n",
            scenario.name,
            injected(scenario),
            top.map_or("nothing", CauseId::as_str),
            if ok { "yes" } else { "NO" },
            took,
        ));
        if !ok {
            details.push_str(&format!(
                "── {}: expected {}, wsdoctor says {}\n",
                scenario.name,
                scenario.expect.as_str(),
                top.map_or("nothing", CauseId::as_str)
            ));
        }
        let shown: Vec<Finding> = findings.iter().take(1).cloned().collect();
        details.push_str(&format!("── {}\n", scenario.name));
        for line in wsdoctor_report::text::render_findings(&shown, style).lines() {
            details.push_str("   ");
            details.push_str(line);
            details.push('\n');
        }
    }
    (format!("{text}\n{details}"), as_expected)
}

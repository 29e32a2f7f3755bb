#![allow(clippy::unwrap_used)]

use wsdoctor_evidence::reconnect::{
    Interruption, ReconnectClient, ReconnectEvidence, ReconnectGap,
};

use super::*;

fn client(name: &str, delays_ms: &[u64], after: Interruption) -> ReconnectClient {
    ReconnectClient {
        client: name.to_owned(),
        gaps: delays_ms
            .iter()
            .map(|d| ReconnectGap {
                after,
                delay_ms: *d,
                at_ms: 0,
            })
            .collect(),
        drops: delays_ms.len() as u32,
        connections: delays_ms.len() as u32 + 1,
        open_ms: 5_000,
        ..ReconnectClient::default()
    }
}

fn run(clients: Vec<ReconnectClient>) -> ReconnectEvidence {
    ReconnectEvidence {
        listen: "127.0.0.1:9002".into(),
        drops: 5,
        clients,
        ..ReconnectEvidence::default()
    }
}

#[test]
fn an_immediate_client_has_no_backoff() {
    let f = diagnose_reconnect(&run(vec![client(
        "web-1",
        &[2, 1, 3, 2, 2],
        Interruption::Reset,
    )]));
    assert_eq!(f[0].id, CauseId::ReconnectNoBackoff);
    assert_eq!(f[0].subject.as_deref(), Some("client=web-1"));
    assert_eq!(f[0].measured.reconnect_policy.as_deref(), Some("immediate"));
    assert_eq!(
        f[0].measured.reconnect_delays_s,
        Some(vec![0.002, 0.001, 0.003, 0.002, 0.002])
    );
    let snippet = f[0].fix[0].snippet.clone().unwrap();
    for lang in ["JavaScript", "Python", "Go", "Rust"] {
        assert!(snippet.contains(lang), "{lang}");
    }
    assert!(f[0].evidence.iter().any(|l| l.contains("no ping")));
}

#[test]
fn clients_in_lockstep_have_no_jitter() {
    let a = client("a", &[100, 200, 400, 800], Interruption::Reset);
    let b = client("b", &[102, 203, 401, 805], Interruption::Reset);
    let f = diagnose_reconnect(&run(vec![a, b]));
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|f| f.id == CauseId::ReconnectNoJitter));
    assert_eq!(f[0].confidence, 0.9);
    assert!(f[0].evidence.iter().any(|l| l.contains("same schedule")));
}

#[test]
fn jittered_clients_are_healthy() {
    let f = diagnose_reconnect(&run(vec![client(
        "j",
        &[31, 88, 52, 390, 170, 1400, 900],
        Interruption::Reset,
    )]));
    assert_eq!(f[0].id, CauseId::Healthy, "{f:#?}");
}

#[test]
fn refusals_reveal_growth_after_a_reset_on_connect() {
    // The client starts over once connected (every drop: 10 ms), but keeps
    // backing off while refused.
    let mut c = ReconnectClient {
        client: "py".into(),
        refused: 8,
        ..ReconnectClient::default()
    };
    for _ in 0..2 {
        c.gaps.push(ReconnectGap {
            after: Interruption::Fin,
            delay_ms: 10,
            at_ms: 0,
        });
        for d in [37, 100, 162, 262] {
            c.gaps.push(ReconnectGap {
                after: Interruption::Refused { status: 503 },
                delay_ms: d,
                at_ms: 0,
            });
        }
    }
    let (seq, after) = sequence(&c);
    assert_eq!(seq, vec![0.01, 0.037, 0.1, 0.162, 0.262]);
    assert_eq!(after[1], "503");
    let f = diagnose_reconnect(&run(vec![c]));
    assert_eq!(
        f[0].measured.reconnect_policy.as_deref(),
        Some("exponential")
    );
    assert!(f[0].evidence.iter().any(|l| l.contains("after 503")));
}

#[test]
fn too_few_reconnects_give_no_finding() {
    assert!(diagnose_reconnect(&run(vec![client("x", &[100], Interruption::Reset)])).is_empty());
}

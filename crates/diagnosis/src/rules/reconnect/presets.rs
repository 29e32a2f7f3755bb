//! Default reconnect policies of popular client libraries, from their
//! source (snapshots in `shared/research/anchors.md` §4). Each preset names
//! the file its numbers come from.

use super::storm::{Jitter, Steps, StormPolicy};

/// The preset names `wsdoctor storm --policy` accepts.
pub const PRESETS: &[&str] = &[
    "socket.io-client",
    "reconnecting-websocket",
    "partysocket",
    "phoenix",
    "signalr",
    "python-websockets",
    "graphql-ws",
    "centrifuge-js",
];

fn policy(
    name: &str,
    source: &str,
    immediate_first: bool,
    steps: Steps,
    jitter: Jitter,
    max_attempts: Option<u32>,
) -> StormPolicy {
    StormPolicy {
        name: name.to_owned(),
        source: source.to_owned(),
        immediate_first,
        steps,
        jitter,
        max_attempts,
    }
}

fn exp(base_s: f64, factor: f64, cap_s: Option<f64>) -> Steps {
    Steps::Exponential {
        base_s,
        factor,
        cap_s,
    }
}

/// The preset called `name` (case-insensitive), if there is one.
pub fn preset(name: &str) -> Option<StormPolicy> {
    let p = match name.to_ascii_lowercase().as_str() {
        // backo2: ms = 1000 × 2^attempt ± floor(rand × 0.5 × ms), capped at 5000.
        "socket.io-client" | "socket.io" => policy(
            "socket.io-client",
            "socketio/socket.io @ d2d753f: packages/socket.io-client/lib/manager.ts, lib/contrib/backo2.ts (reconnectionDelay 1000, randomizationFactor 0.5, reconnectionDelayMax 5000)",
            false,
            exp(1.0, 2.0, Some(5.0)),
            Jitter::Proportional { fraction: 0.5 },
            None,
        ),
        // minReconnectionDelay = 1000 + Math.random() * 4000, evaluated once
        // at module load: a per-page constant, then ×1.3 up to 10 s.
        "reconnecting-websocket" => policy(
            "reconnecting-websocket",
            "pladaria/reconnecting-websocket @ 05a2f7c: reconnecting-websocket.ts (DEFAULT, _getNextDelay)",
            false,
            exp(1.0, 1.3, Some(10.0)),
            Jitter::PerClientBase { lo_s: 1.0, hi_s: 5.0 },
            None,
        ),
        // Since 4abd429 (2026-05-11): minReconnectionDelay 3000, no randomness.
        "partysocket" => policy(
            "partysocket",
            "cloudflare/partykit @ c9ab55f: packages/partysocket/src/ws.ts (minReconnectionDelay 3000, ×1.3, max 10000)",
            false,
            exp(3.0, 1.3, Some(10.0)),
            Jitter::None,
            None,
        ),
        "phoenix" | "phoenix-js" => policy(
            "phoenix",
            "phoenixframework/phoenix @ 167c469: assets/js/phoenix/socket.js (reconnectAfterMs [10, 50, 100, 150, 200, 250, 500, 1000, 2000] then 5000)",
            false,
            Steps::Table {
                delays_s: vec![0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0],
                then_s: Some(5.0),
            },
            Jitter::None,
            None,
        ),
        "signalr" => policy(
            "signalr",
            "@microsoft/signalr DefaultReconnectPolicy.ts ([0, 2000, 10000, 30000] ms, then stop; withAutomaticReconnect())",
            false,
            Steps::Table {
                delays_s: vec![0.0, 2.0, 10.0, 30.0],
                then_s: None,
            },
            Jitter::None,
            None,
        ),
        // A dropped open connection is retried at once; failed attempts then
        // wait random() × 5 s, 3.1 s, ×1.618 each, up to 90 s.
        "python-websockets" | "websockets" => policy(
            "python-websockets",
            "python-websockets/websockets @ 04e599c: src/websockets/client.py (backoff: BACKOFF_INITIAL_DELAY 5, MIN 3.1, FACTOR 1.618, MAX 90)",
            true,
            exp(3.1, 1.618, Some(90.0)),
            Jitter::FirstRandom { max_s: 5.0 },
            None,
        ),
        // retryWait: 2^retries s + random(300…3000) ms; retryAttempts 5.
        "graphql-ws" => policy(
            "graphql-ws",
            "enisdenjo/graphql-ws @ af4f5c9: src/client.ts (randomisedExponentialBackoff, retryAttempts 5)",
            false,
            exp(1.0, 2.0, None),
            Jitter::Added { lo_s: 0.3, hi_s: 3.0 },
            Some(5),
        ),
        // backoff(step, min, max) = min(max, min + randomInt(0, min(max, min × 2^step))).
        "centrifuge-js" | "centrifuge" => policy(
            "centrifuge-js",
            "centrifugal/centrifuge-js @ c9e8678: src/utils.ts backoff (minReconnectDelay 500, maxReconnectDelay 20000)",
            false,
            exp(0.5, 2.0, Some(20.0)),
            Jitter::BasePlusFull,
            None,
        ),
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_preset_exists_and_names_its_source() {
        for name in PRESETS {
            let p = preset(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(&p.name, name);
            assert!(p.source.contains('@') || p.source.contains(".ts"), "{name}");
        }
        assert!(preset("nope").is_none());
    }

    #[test]
    fn python_websockets_schedule() {
        let p = preset("python-websockets").unwrap_or_else(|| panic!());
        let mut rng = fastrand::Rng::with_seed(1);
        let first = p.delay(0, None, &mut rng).unwrap_or(-1.0);
        assert!((0.0..5.0).contains(&first));
        assert_eq!(p.delay(1, None, &mut rng), Some(3.1));
        assert!((p.delay(2, None, &mut rng).unwrap_or(0.0) - 5.0158).abs() < 1e-3);
    }
}

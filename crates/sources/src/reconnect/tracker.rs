//! The sans-IO bookkeeping of `wsdoctor reconnect`: which client arrived,
//! whether to accept or refuse it, how to drop it, how long it took to come
//! back, and whether the run is over. Times are ms since the run started,
//! passed in, so every rule is tested without sockets.

use std::collections::HashMap;
use std::time::Duration;

use wsdoctor_evidence::reconnect::{
    Interruption, ReconnectApp, ReconnectClient, ReconnectEvidence, ReconnectGap, MAX_GAPS,
};

/// Clients tracked at most; more are served but not measured (bounded
/// memory when a whole fleet is pointed at the server).
pub const MAX_CLIENTS: usize = 10_000;

/// How long a client's last connection is held before the run ends
/// complete: long enough for its application session to open and for the
/// client to see it open. Ending at once closed the last connection with
/// 1001 milliseconds after its upgrade: @microsoft/signalr took that hub
/// handshake, answered and closed, for a failed reconnect, and our side
/// sometimes counted its session unopened (1 run in 6 under load).
pub(crate) const HOLD_BEFORE_COMPLETE: Duration = Duration::from_secs(1);

/// What to do with a handshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Answer 503: this client is in its refusal phase after a drop.
    Refuse,
    /// Upgrade, and drop the connection after this long, this way.
    AcceptAndDrop(Duration, Interruption),
    /// Upgrade and hold: the client has been dropped enough times (or is
    /// not tracked).
    AcceptAndHold,
}

#[derive(Debug, Default)]
struct ClientState {
    record: ReconnectClient,
    /// The interruption the next request's delay is measured from.
    pending: Option<(u64, Interruption)>,
    /// Refusals still to give before accepting again.
    to_refuse: u32,
    /// When its connection that is held to the end was accepted.
    held_since_ms: Option<u64>,
}

/// The tracker of one run.
#[derive(Debug)]
pub struct Tracker {
    drop_after: Duration,
    drops: u32,
    ways: Vec<Interruption>,
    refuse: u32,
    clients: HashMap<String, ClientState>,
    order: Vec<String>,
    omitted: u64,
}

impl Tracker {
    /// A tracker that drops every client `drops` times, `drop_after` after
    /// each upgrade, the `ways` in turn, refusing `refuse` handshakes after
    /// each drop.
    pub fn new(drop_after: Duration, drops: u32, ways: Vec<Interruption>, refuse: u32) -> Tracker {
        let ways = if ways.is_empty() {
            vec![Interruption::Reset]
        } else {
            ways
        };
        Tracker {
            drop_after,
            drops,
            ways,
            refuse,
            clients: HashMap::new(),
            order: Vec::new(),
            omitted: 0,
        }
    }

    /// A handshake request from `client` arrived at `now_ms`.
    pub fn on_request(&mut self, client: &str, now_ms: u64) -> Admission {
        if !self.clients.contains_key(client) {
            if self.clients.len() >= MAX_CLIENTS {
                self.omitted += 1;
                return Admission::AcceptAndHold;
            }
            self.order.push(client.to_owned());
            let state = ClientState {
                record: ReconnectClient {
                    client: client.to_owned(),
                    first_seen_ms: now_ms,
                    ..ReconnectClient::default()
                },
                ..ClientState::default()
            };
            self.clients.insert(client.to_owned(), state);
        }
        let Some(state) = self.clients.get_mut(client) else {
            return Admission::AcceptAndHold;
        };
        if let Some((at, after)) = state.pending.take() {
            let gap = ReconnectGap {
                after,
                delay_ms: now_ms.saturating_sub(at),
                at_ms: now_ms,
            };
            if state.record.gaps.len() < MAX_GAPS {
                state.record.gaps.push(gap);
            } else {
                state.record.gaps_omitted += 1;
            }
        }
        if state.to_refuse > 0 {
            state.to_refuse -= 1;
            state.record.refused += 1;
            // The delay to the next attempt is measured from this refusal.
            state.pending = Some((now_ms, Interruption::Refused { status: 503 }));
            return Admission::Refuse;
        }
        state.record.connections += 1;
        if state.record.drops >= self.drops {
            state.held_since_ms = Some(now_ms);
            return Admission::AcceptAndHold;
        }
        let way = self.ways[state.record.drops as usize % self.ways.len()];
        Admission::AcceptAndDrop(self.drop_after, way)
    }

    /// The server dropped `client`'s connection at `now_ms`, this way.
    pub fn on_dropped(&mut self, client: &str, now_ms: u64, way: Interruption) {
        if let Some(state) = self.clients.get_mut(client) {
            state.record.drops += 1;
            state.pending = Some((now_ms, way));
            state.to_refuse = self.refuse;
        }
    }

    /// `client` ended its connection itself at `now_ms`.
    pub fn on_client_closed(&mut self, client: &str, now_ms: u64) {
        if let Some(state) = self.clients.get_mut(client) {
            state.pending = Some((now_ms, Interruption::ClientClosed));
        }
    }

    /// What a finished connection of `client` showed: pings, their
    /// intervals, messages and how long it was open.
    pub fn on_traffic(
        &mut self,
        client: &str,
        ping_gaps_ms: &[u64],
        pings: u64,
        messages: u64,
        open_ms: u64,
    ) {
        let Some(state) = self.clients.get_mut(client) else {
            return;
        };
        let r = &mut state.record;
        r.pings += pings;
        r.messages += messages;
        r.open_ms += open_ms;
        if !ping_gaps_ms.is_empty() {
            let mut gaps = ping_gaps_ms.to_vec();
            gaps.sort_unstable();
            let median = gaps[gaps.len() / 2];
            // The longest-lived connection's view wins: more gaps, better median.
            r.ping_interval_ms = Some(median);
        }
    }

    /// The application protocol spoken on one of `client`'s connections,
    /// and whether its session opened there.
    pub fn on_app(&mut self, client: &str, protocol: &str, decided_by: &str, opened: bool) {
        let Some(state) = self.clients.get_mut(client) else {
            return;
        };
        let app = state.record.app.get_or_insert_with(|| ReconnectApp {
            protocol: protocol.to_owned(),
            decided_by: decided_by.to_owned(),
            sessions_opened: 0,
        });
        app.sessions_opened += u32::from(opened);
    }

    /// True once every client seen was dropped enough times, came back
    /// after the last drop and its refusals, and has been held since for
    /// [`HOLD_BEFORE_COMPLETE`] at `now_ms`.
    pub fn complete(&self, now_ms: u64) -> bool {
        let hold = u64::try_from(HOLD_BEFORE_COMPLETE.as_millis()).unwrap_or(u64::MAX);
        !self.clients.is_empty()
            && self.clients.values().all(|s| {
                s.record.drops >= self.drops
                    && s.pending.is_none()
                    && s.to_refuse == 0
                    && s.held_since_ms
                        .is_some_and(|at| now_ms.saturating_sub(at) >= hold)
            })
    }

    /// Clients seen so far and how many of them are complete (for progress).
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .clients
            .values()
            .filter(|s| s.record.drops >= self.drops && s.pending.is_none())
            .count();
        (self.clients.len(), done)
    }

    /// The run as evidence.
    pub fn evidence(&self, listen: String, ran_ms: u64, ended_by: &str) -> ReconnectEvidence {
        ReconnectEvidence {
            listen,
            drop_after_ms: u64::try_from(self.drop_after.as_millis()).unwrap_or(u64::MAX),
            drops: self.drops,
            ways: self.ways.clone(),
            refuse: self.refuse,
            ran_ms,
            ended_by: ended_by.to_owned(),
            clients: self
                .order
                .iter()
                .filter_map(|c| self.clients.get(c))
                .map(|s| s.record.clone())
                .collect(),
            clients_omitted: self.omitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn drops_refuses_and_measures_delays() {
        let mut t = Tracker::new(SEC, 2, vec![Interruption::Reset], 1);
        assert_eq!(
            t.on_request("a", 0),
            Admission::AcceptAndDrop(SEC, Interruption::Reset)
        );
        t.on_dropped("a", 1000, Interruption::Reset);
        assert!(!t.complete(1000));
        // First attempt after the drop is refused; its delay is measured.
        assert_eq!(t.on_request("a", 1050), Admission::Refuse);
        assert_eq!(
            t.on_request("a", 1150),
            Admission::AcceptAndDrop(SEC, Interruption::Reset)
        );
        t.on_dropped("a", 2150, Interruption::Reset);
        assert_eq!(t.on_request("a", 2160), Admission::Refuse);
        assert_eq!(t.on_request("a", 2360), Admission::AcceptAndHold);
        // Back, but held a moment for its session to open.
        assert!(!t.complete(2360));
        assert!(!t.complete(3359));
        assert!(t.complete(3360));
        let e = t.evidence("127.0.0.1:1".into(), 3400, "complete");
        let delays: Vec<u64> = e.clients[0].gaps.iter().map(|g| g.delay_ms).collect();
        assert_eq!(delays, vec![50, 100, 10, 200]);
        assert_eq!(
            e.clients[0].gaps[1].after,
            Interruption::Refused { status: 503 }
        );
        assert_eq!(e.clients[0].refused, 2);
    }

    #[test]
    fn ways_are_used_in_turn_and_new_clients_delay_completion() {
        let ways = vec![Interruption::Reset, Interruption::Close { code: 1013 }];
        let mut t = Tracker::new(SEC, 2, ways, 0);
        t.on_request("a", 0);
        t.on_dropped("a", 10, Interruption::Reset);
        assert_eq!(
            t.on_request("a", 20),
            Admission::AcceptAndDrop(SEC, Interruption::Close { code: 1013 })
        );
        t.on_request("b", 25);
        t.on_dropped("a", 30, Interruption::Close { code: 1013 });
        t.on_request("a", 40);
        assert!(!t.complete(5_000), "b was never dropped");
        assert_eq!(t.progress(), (2, 1));
    }

    #[test]
    fn clients_are_capped() {
        let mut t = Tracker::new(SEC, 1, Vec::new(), 0);
        for i in 0..MAX_CLIENTS {
            t.on_request(&format!("c{i}"), 0);
        }
        assert_eq!(t.on_request("one-too-many", 0), Admission::AcceptAndHold);
        assert_eq!(t.evidence(String::new(), 0, "max").clients_omitted, 1);
    }
}

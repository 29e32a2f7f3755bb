//! Server configuration, and the per-connection plan derived from faults.
//!
//! A fault list is what a person writes; a [`Plan`] is what the code acts on.
//! Folding the list once, up front, keeps the handshake and the session loop
//! free of "which faults are in the list" searches and fixes one rule for
//! combinations: when two faults fight over the same thing, the first listed
//! wins.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::server_fault::Fault;
use crate::tls::LabTls;

/// How a [`crate::LabServer`] is set up.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Where to listen. Defaults to `127.0.0.1:0` (a free port on loopback).
    pub listen: SocketAddr,
    /// Serve `wss://` with this certificate when set; plain `ws://` otherwise.
    pub tls: Option<LabTls>,
    /// Faults applied to connections whose request carries no `fault=`
    /// parameter. A request with `fault=` (even empty) replaces this list.
    pub faults: Vec<Fault>,
    /// Name reported in the `X-Wsdoctor-Instance` header and by `greet`, so a
    /// test behind a load balancer can tell which lab answered.
    pub instance: String,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
            faults: Vec::new(),
            instance: "lab".to_owned(),
        }
    }
}

/// What to answer to the HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A 101, then a WebSocket session (possibly a broken 101, see [`Plan`]).
    Upgrade,
    /// Any other HTTP status, then close.
    Status(u16),
    /// `HTTP/1.0 200 OK`, then close.
    Http10,
    /// Never answer.
    Hang,
    /// An SSH banner, then close.
    NotHttp,
}

/// How pings from the client are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PongMode {
    Immediate,
    Never,
    After(Duration),
}

/// Everything that happens after a 101.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionPlan {
    pub(crate) close: Option<(u16, Duration)>,
    pub(crate) rst: Option<Duration>,
    pub(crate) fin: Option<Duration>,
    pub(crate) fin_mid_frame: Option<Duration>,
    pub(crate) pong: PongMode,
    pub(crate) ping: Option<Duration>,
    pub(crate) tick: Option<Duration>,
    pub(crate) greet: bool,
    pub(crate) huge_frame: bool,
}

/// The folded form of one connection's fault list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) answer: Answer,
    pub(crate) bad_accept: bool,
    pub(crate) no_upgrade_header: bool,
    pub(crate) session: SessionPlan,
}

impl Plan {
    /// Folds a fault list; the first fault of each kind wins.
    pub(crate) fn from_faults(faults: &[Fault]) -> Plan {
        let mut plan = Plan {
            answer: Answer::Upgrade,
            bad_accept: false,
            no_upgrade_header: false,
            session: SessionPlan {
                close: None,
                rst: None,
                fin: None,
                fin_mid_frame: None,
                pong: PongMode::Immediate,
                ping: None,
                tick: None,
                greet: false,
                huge_frame: false,
            },
        };
        let mut pong_set = false;
        for fault in faults {
            let s = &mut plan.session;
            // An answer other than 101 excludes the others: only the first counts.
            let mut answer = |a: Answer| {
                if plan.answer == Answer::Upgrade {
                    plan.answer = a;
                }
            };
            match *fault {
                Fault::Status(code) => answer(Answer::Status(code)),
                Fault::Http10 => answer(Answer::Http10),
                Fault::Hang => answer(Answer::Hang),
                Fault::NotHttp => answer(Answer::NotHttp),
                Fault::BadAccept => plan.bad_accept = true,
                Fault::NoUpgradeHeader => plan.no_upgrade_header = true,
                Fault::Close { code, after } => {
                    s.close.get_or_insert((code, after));
                }
                Fault::Rst(d) => {
                    s.rst.get_or_insert(d);
                }
                Fault::Fin(d) => {
                    s.fin.get_or_insert(d);
                }
                Fault::FinMidFrame(d) => {
                    s.fin_mid_frame.get_or_insert(d);
                }
                Fault::NoPong | Fault::PongDelay(_) if pong_set => {}
                Fault::NoPong => {
                    s.pong = PongMode::Never;
                    pong_set = true;
                }
                Fault::PongDelay(d) => {
                    s.pong = PongMode::After(d);
                    pong_set = true;
                }
                Fault::Ping(d) => {
                    s.ping.get_or_insert(d);
                }
                Fault::Tick(d) => {
                    s.tick.get_or_insert(d);
                }
                Fault::Greet => s.greet = true,
                Fault::HugeFrame => s.huge_frame = true,
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fault_of_a_kind_wins() {
        let faults = Fault::parse_list("status:503,hang,no-pong,pong-delay:1s,rst:1s,rst:2s");
        let plan = Plan::from_faults(&faults.unwrap_or_default());
        assert_eq!(plan.answer, Answer::Status(503));
        assert_eq!(plan.session.pong, PongMode::Never);
        assert_eq!(plan.session.rst, Some(Duration::from_secs(1)));
    }

    #[test]
    fn no_faults_is_a_plain_echo_server() {
        let plan = Plan::from_faults(&[]);
        assert_eq!(plan.answer, Answer::Upgrade);
        assert!(!plan.bad_accept && !plan.no_upgrade_header);
        assert_eq!(plan.session.pong, PongMode::Immediate);
        assert_eq!(plan.session.close, None);
    }
}

//! The misbehaviours the lab can be asked for, and their text form.
//!
//! Faults are written the way a person types them in a URL or on a command
//! line (`status:503`, `close:1011:2s`, `ping:500ms`), so parsing is the one
//! place that has to be strict and give a useful message: a typo must not
//! silently turn into an echo server.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One misbehaviour of the lab server.
///
/// The text form (see [`FromStr`] and [`fmt::Display`], which round-trip) is
/// what the `fault=` query parameter carries, as a comma-separated list.
/// Durations are written like `500ms` or `2s`.
///
/// How faults combine:
/// - `status`, `http10`, `hang` and `not-http` replace the 101; the first of
///   them listed wins and the faults that act after a 101 then do nothing.
/// - `bad-accept` and `no-upgrade-header` alter the 101 and can be combined.
/// - Delays (`AFTER`) and intervals count from the moment the 101 was sent;
///   whichever of `close`, `rst`, `fin`, `fin-mid-frame` comes first acts
///   first (`rst` and `fin` still act while waiting for a close answer).
/// - Of two faults of the same kind (`rst:1s,rst:2s`, `no-pong,pong-delay:1s`)
///   the first listed wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// `status:NNN`: answer the upgrade request with this HTTP status and a
    /// realistic body, then close.
    Status(u16),
    /// `http10`: answer `HTTP/1.0 200 OK` with an HTML page, as a proxy that
    /// downgraded the request would.
    Http10,
    /// `bad-accept`: answer 101 with a wrong `Sec-WebSocket-Accept`.
    BadAccept,
    /// `no-upgrade-header`: answer 101 with a correct accept but no `Upgrade`
    /// header.
    NoUpgradeHeader,
    /// `close:CODE[:AFTER]`: after `after`, send a close frame with `code`
    /// (and the `reason=` query parameter), wait up to 2 s for the client's
    /// answer, then close TCP. Any code is accepted, even ones that must never
    /// appear on the wire (1005, 1006), because clients' handling of those is
    /// worth testing too.
    Close {
        /// The close code sent.
        code: u16,
        /// Delay after the handshake.
        after: Duration,
    },
    /// `rst:AFTER`: after this delay, reset the TCP connection (RST, no close
    /// frame).
    Rst(Duration),
    /// `fin:AFTER`: after this delay, shut the TCP connection down (FIN, no
    /// close frame).
    Fin(Duration),
    /// `fin-mid-frame:AFTER`: after this delay, send half of a text frame
    /// (a header announcing 100 bytes, then 10 bytes) and then FIN.
    FinMidFrame(Duration),
    /// `no-pong`: never answer pings.
    NoPong,
    /// `pong-delay:DUR`: answer pings only after this delay.
    PongDelay(Duration),
    /// `ping:INTERVAL`: the server sends a ping every interval.
    Ping(Duration),
    /// `tick:INTERVAL`: the server sends a text message `tick N` every
    /// interval.
    Tick(Duration),
    /// `greet`: right after the 101, send one JSON text message describing the
    /// request the server received (instance, peer address, headers).
    Greet,
    /// `huge-frame`: after the 101, announce a 2 GiB binary frame, send a few
    /// bytes of it and never the rest.
    HugeFrame,
    /// `hang`: read the request and never answer.
    Hang,
    /// `not-http`: answer with an SSH banner instead of HTTP, then close.
    NotHttp,
}

/// Why a fault's text could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad fault `{input}`: {reason}")]
pub struct FaultParseError {
    /// The text that was rejected (one item of the list).
    pub input: String,
    /// What was wrong with it, in words meant for a person.
    pub reason: String,
}

/// Names shown when a fault is not recognised, so the error lists the menu.
const KNOWN: &str = "status:NNN, http10, bad-accept, no-upgrade-header, close:CODE[:AFTER], \
rst:AFTER, fin:AFTER, fin-mid-frame:AFTER, no-pong, pong-delay:DUR, ping:INTERVAL, \
tick:INTERVAL, greet, huge-frame, hang, not-http";

impl Fault {
    /// Parses a comma-separated list such as `ping:1s,close:1011:2s`.
    ///
    /// Blank items are skipped, so an empty string gives an empty list.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, FaultParseError> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| FaultParseError {
            input: text.to_owned(),
            reason,
        };
        let mut parts = text.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        // Each arm states its own arity so `no-pong:1s` is an error rather than
        // a quietly ignored argument.
        let want = |n: std::ops::RangeInclusive<usize>| {
            if n.contains(&args.len()) {
                Ok(())
            } else if *n.end() == 0 {
                Err(fail(format!("`{name}` takes no argument")))
            } else {
                Err(fail(format!("`{name}` needs {} argument(s)", n.start())))
            }
        };
        let dur = |s: &str| {
            humantime::parse_duration(s)
                .map_err(|e| fail(format!("`{s}` is not a duration like 500ms or 2s ({e})")))
        };
        let interval = |s: &str| {
            let d = dur(s)?;
            if d.is_zero() {
                Err(fail("the interval must be longer than zero".to_owned()))
            } else {
                Ok(d)
            }
        };
        let first = || args.first().copied().unwrap_or_default();
        Ok(match name {
            "status" => {
                want(1..=1)?;
                let code: u16 = first()
                    .parse()
                    .map_err(|_| fail(format!("`{}` is not an HTTP status", first())))?;
                if !(100..=599).contains(&code) {
                    return Err(fail(format!("HTTP status {code} is outside 100..=599")));
                }
                Fault::Status(code)
            }
            "http10" => want(0..=0).map(|()| Fault::Http10)?,
            "bad-accept" => want(0..=0).map(|()| Fault::BadAccept)?,
            "no-upgrade-header" => want(0..=0).map(|()| Fault::NoUpgradeHeader)?,
            "close" => {
                want(1..=2)?;
                let code: u16 = first()
                    .parse()
                    .map_err(|_| fail(format!("`{}` is not a close code (0-65535)", first())))?;
                let after = match args.get(1) {
                    Some(s) => dur(s)?,
                    None => Duration::ZERO,
                };
                Fault::Close { code, after }
            }
            "rst" => {
                want(1..=1)?;
                Fault::Rst(dur(first())?)
            }
            "fin" => {
                want(1..=1)?;
                Fault::Fin(dur(first())?)
            }
            "fin-mid-frame" => {
                want(1..=1)?;
                Fault::FinMidFrame(dur(first())?)
            }
            "no-pong" => want(0..=0).map(|()| Fault::NoPong)?,
            "pong-delay" => {
                want(1..=1)?;
                Fault::PongDelay(dur(first())?)
            }
            "ping" => {
                want(1..=1)?;
                Fault::Ping(interval(first())?)
            }
            "tick" => {
                want(1..=1)?;
                Fault::Tick(interval(first())?)
            }
            "greet" => want(0..=0).map(|()| Fault::Greet)?,
            "huge-frame" => want(0..=0).map(|()| Fault::HugeFrame)?,
            "hang" => want(0..=0).map(|()| Fault::Hang)?,
            "not-http" => want(0..=0).map(|()| Fault::NotHttp)?,
            _ => return Err(fail(format!("unknown fault; known ones are {KNOWN}"))),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // humantime prints `1s 500ms`; the parser accepts that, but URLs read
        // better with a single unit, so durations are printed in ms unless whole
        // seconds.
        struct D(Duration);
        impl fmt::Display for D {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0.subsec_nanos() == 0 {
                    write!(f, "{}s", self.0.as_secs())
                } else if self.0.subsec_nanos().is_multiple_of(1_000_000) {
                    write!(f, "{}ms", self.0.as_millis())
                } else {
                    write!(f, "{}", humantime::format_duration(self.0))
                }
            }
        }
        match *self {
            Fault::Status(code) => write!(f, "status:{code}"),
            Fault::Http10 => f.write_str("http10"),
            Fault::BadAccept => f.write_str("bad-accept"),
            Fault::NoUpgradeHeader => f.write_str("no-upgrade-header"),
            Fault::Close { code, after } if after.is_zero() => write!(f, "close:{code}"),
            Fault::Close { code, after } => write!(f, "close:{code}:{}", D(after)),
            Fault::Rst(d) => write!(f, "rst:{}", D(d)),
            Fault::Fin(d) => write!(f, "fin:{}", D(d)),
            Fault::FinMidFrame(d) => write!(f, "fin-mid-frame:{}", D(d)),
            Fault::NoPong => f.write_str("no-pong"),
            Fault::PongDelay(d) => write!(f, "pong-delay:{}", D(d)),
            Fault::Ping(d) => write!(f, "ping:{}", D(d)),
            Fault::Tick(d) => write!(f, "tick:{}", D(d)),
            Fault::Greet => f.write_str("greet"),
            Fault::HugeFrame => f.write_str("huge-frame"),
            Fault::Hang => f.write_str("hang"),
            Fault::NotHttp => f.write_str("not-http"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_fault() {
        let table: &[(&str, Fault)] = &[
            ("status:503", Fault::Status(503)),
            ("status:200", Fault::Status(200)),
            ("http10", Fault::Http10),
            ("bad-accept", Fault::BadAccept),
            ("no-upgrade-header", Fault::NoUpgradeHeader),
            (
                "close:1011",
                Fault::Close {
                    code: 1011,
                    after: Duration::ZERO,
                },
            ),
            (
                "close:1001:2s",
                Fault::Close {
                    code: 1001,
                    after: ms(2000),
                },
            ),
            ("rst:100ms", Fault::Rst(ms(100))),
            ("fin:1s", Fault::Fin(ms(1000))),
            ("fin-mid-frame:0s", Fault::FinMidFrame(Duration::ZERO)),
            ("no-pong", Fault::NoPong),
            ("pong-delay:1500ms", Fault::PongDelay(ms(1500))),
            ("ping:500ms", Fault::Ping(ms(500))),
            ("tick:1s", Fault::Tick(ms(1000))),
            ("greet", Fault::Greet),
            ("huge-frame", Fault::HugeFrame),
            ("hang", Fault::Hang),
            ("not-http", Fault::NotHttp),
            (" rst:2s ", Fault::Rst(ms(2000))),
        ];
        for (text, want) in table {
            let got: Result<Fault, _> = text.parse();
            assert_eq!(got.as_ref(), Ok(want), "parsing {text:?}");
            // Display must give back text that parses to the same fault.
            let again: Result<Fault, _> = want.to_string().parse();
            assert_eq!(again.as_ref(), Ok(want), "round trip of {want}");
        }
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        let table: &[(&str, &str)] = &[
            ("explode", "unknown fault"),
            ("status", "needs 1 argument"),
            ("status:abc", "not an HTTP status"),
            ("status:42", "outside"),
            ("close:abc", "not a close code"),
            ("close:1000:soon", "not a duration"),
            ("close:1000:1s:2s", "needs 1 argument"),
            ("no-pong:1s", "takes no argument"),
            ("ping:0s", "longer than zero"),
            ("rst", "needs 1 argument"),
        ];
        for (text, want) in table {
            match text.parse::<Fault>() {
                Ok(f) => panic!("{text:?} parsed as {f:?}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{text:?}: {msg}");
                    assert!(msg.contains(text.trim()), "{text:?}: {msg}");
                }
            }
        }
    }

    #[test]
    fn parses_lists() {
        assert_eq!(
            Fault::parse_list("ping:1s, no-pong,,"),
            Ok(vec![Fault::Ping(ms(1000)), Fault::NoPong])
        );
        assert_eq!(Fault::parse_list(""), Ok(vec![]));
        assert!(Fault::parse_list("ping:1s,bogus").is_err());
    }
}

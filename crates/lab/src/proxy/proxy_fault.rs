//! The proxy's faults and their text form (`idle-timeout=2s:rst`,
//! `inject-close=1011@3s`, `mass-disconnect@10s`).
//!
//! As with the server's faults, parsing is strict: a typo must fail with a
//! message that lists the menu, never turn into a proxy that does nothing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the proxy ends a connection when a timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndHow {
    /// `fin`: close TCP on both sides without a close frame (what AWS ALB and
    /// nginx do at their idle timeouts). Clients see 1006.
    Fin,
    /// `rst`: reset TCP on both sides (SO_LINGER 0).
    Rst,
    /// `close-CODE` (e.g. `close-1001`): send a close frame with this code to
    /// both peers, wait briefly for their answers, then close TCP.
    Close(u16),
    /// `http-504`: when the upstream has not answered the upgrade within the
    /// idle timeout, answer `504 Gateway Time-out` as nginx does. After the
    /// upgrade an HTTP answer is impossible, so it acts like `fin`.
    Http504,
}

/// Which traffic restarts the idle timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IdleCounts {
    /// `both`: any byte in either direction (most load balancers).
    #[default]
    Both,
    /// `down-only`: only bytes from the server to the client (AWS CloudFront,
    /// nginx's `proxy_read_timeout`): client pings alone do not keep the
    /// connection alive, the server's answers do.
    DownOnly,
    /// `data-only`: only data frames in either direction; pings, pongs and
    /// close frames do not count (AWS API Gateway).
    DataOnly,
}

/// One misbehaviour of the fault proxy.
///
/// Durations count from the 101 of each connection, except
/// `mass-disconnect`, which counts from the proxy's start so that every
/// connection ends at once. Of two faults of the same kind the first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyFault {
    /// `idle-timeout=DUR[:HOW][:COUNTS]`: end the connection after `after`
    /// without traffic (as `counts` defines it), the way `how` says.
    IdleTimeout {
        /// The idle time.
        after: Duration,
        /// How the connection is ended.
        how: EndHow,
        /// Which traffic restarts the timer.
        counts: IdleCounts,
    },
    /// `ignore-pings-for-idle`: only data frames restart the idle timer
    /// (the same as `idle-timeout=DUR:data-only`).
    IgnorePingsForIdle,
    /// `max-lifetime=DUR[:HOW]`: end every connection after `DUR`, whatever
    /// the traffic.
    MaxLifetime {
        /// The lifetime.
        after: Duration,
        /// How the connection is ended.
        how: EndHow,
    },
    /// `random-drop=MIN-MAX[:HOW]`: end each connection at an age drawn
    /// uniformly from `MIN..=MAX`, whatever the traffic (edges that recycle
    /// connections at any time: scattered drops, not one timer).
    RandomDrop {
        /// The earliest age.
        min: Duration,
        /// The latest age.
        max: Duration,
        /// How the connection is ended.
        how: EndHow,
    },
    /// `reset-after=DUR`: reset both TCP connections after `DUR`.
    ResetAfter(Duration),
    /// `blackhole-after=DUR`: after `DUR`, forward nothing more in either
    /// direction and close nothing: the path is half-open.
    BlackholeAfter(Duration),
    /// `strip-upgrade`: forward the handshake without `Upgrade` and
    /// `Connection`, as HTTP/1.0, the way nginx does without
    /// `proxy_set_header Upgrade`, and answer with nginx's `Server` header.
    StripUpgrade,
    /// `max-conns=N[:drop]`: beyond N open connections, answer 503 (or with
    /// `:drop`, accept and close at once).
    MaxConns {
        /// Connections allowed at once.
        limit: usize,
        /// Close without an answer instead of a 503.
        drop: bool,
    },
    /// `latency=DUR`: delay every chunk by `DUR` in each direction.
    Latency(Duration),
    /// `drop-pongs`: forward no pong frame, in either direction.
    DropPongs,
    /// `swallow-close`: forward no close frame, so the peers see the TCP end
    /// without one (1006).
    SwallowClose,
    /// `inject-close=CODE[@DUR]`: at `DUR`, send a close frame with `CODE` to
    /// the client (and 1001 to the server), as a proxy shutting down would.
    InjectClose {
        /// The code the client receives.
        code: u16,
        /// When.
        after: Duration,
    },
    /// `stall=DUR`: after `DUR`, keep passing control frames (pings and pongs
    /// still work) but no data frames.
    Stall(Duration),
    /// `mass-disconnect@DUR[:HOW]`: at `DUR` after the proxy started, end
    /// every open connection within a few ms, as a config reload does.
    MassDisconnect {
        /// When, from the proxy's start.
        at: Duration,
        /// How each connection is ended.
        how: EndHow,
    },
}

/// Why a proxy fault's text could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad proxy fault `{input}`: {reason}")]
pub struct ProxyFaultParseError {
    /// The text that was rejected.
    pub input: String,
    /// What was wrong with it, for a person.
    pub reason: String,
}

/// The menu shown when a fault is not recognised.
pub const PROXY_FAULTS: &str = "idle-timeout=DUR[:fin|rst|close-1001|http-504][:both|down-only|data-only], \
ignore-pings-for-idle, max-lifetime=DUR[:HOW], random-drop=MIN-MAX[:HOW], reset-after=DUR, blackhole-after=DUR, strip-upgrade, \
max-conns=N[:drop], latency=DUR, drop-pongs, swallow-close, inject-close=CODE[@DUR], stall=DUR, \
mass-disconnect@DUR[:HOW]";

/// Named presets after real products, for [`ProxyFault::preset`].
pub const PRESETS: &[(&str, &str)] = &[
    ("alb", "AWS ALB: idle timeout 60 s, any traffic counts, FIN"),
    (
        "nginx-default",
        "nginx with proxy_read_timeout 60 s: only server-to-client traffic counts, FIN",
    ),
    (
        "nginx-no-upgrade",
        "nginx without proxy_set_header Upgrade/Connection",
    ),
    ("cloudflare", "Cloudflare: idle timeout 100 s, FIN"),
    (
        "api-gateway",
        "AWS API Gateway: idle 10 min counting data frames only, max lifetime 2 h",
    ),
    (
        "cloudfront",
        "AWS CloudFront: idle timeout 10 min, only origin-to-client bytes count",
    ),
];

impl ProxyFault {
    /// Parses a comma-separated list; blank items are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<ProxyFault>, ProxyFaultParseError> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect()
    }

    /// The faults of a named preset (see [`PRESETS`]), every duration
    /// multiplied by `time_scale` (e.g. `0.05` turns 60 s into 3 s).
    /// `None` for an unknown name.
    pub fn preset(name: &str, time_scale: f64) -> Option<Vec<ProxyFault>> {
        let s = |secs: u64| scale(Duration::from_secs(secs), time_scale);
        let idle = |after, counts| ProxyFault::IdleTimeout {
            after,
            how: EndHow::Fin,
            counts,
        };
        Some(match name {
            "alb" => vec![idle(s(60), IdleCounts::Both)],
            "nginx-default" => vec![idle(s(60), IdleCounts::DownOnly)],
            "nginx-no-upgrade" => vec![ProxyFault::StripUpgrade],
            "cloudflare" => vec![idle(s(100), IdleCounts::Both)],
            "api-gateway" => vec![
                idle(s(600), IdleCounts::DataOnly),
                ProxyFault::MaxLifetime {
                    after: s(7200),
                    how: EndHow::Close(1001),
                },
            ],
            "cloudfront" => vec![idle(s(600), IdleCounts::DownOnly)],
            _ => return None,
        })
    }
}

/// `d × factor`, saturating; a non-finite or negative factor leaves `d`.
pub(crate) fn scale(d: Duration, factor: f64) -> Duration {
    if !factor.is_finite() || factor < 0.0 {
        return d;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

impl FromStr for EndHow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "fin" => Ok(EndHow::Fin),
            "rst" => Ok(EndHow::Rst),
            "http-504" => Ok(EndHow::Http504),
            _ => match text.strip_prefix("close-").map(str::parse::<u16>) {
                Some(Ok(code)) => Ok(EndHow::Close(code)),
                _ => Err(format!(
                    "`{text}` is not a way to end: fin, rst, close-CODE (e.g. close-1001) or http-504"
                )),
            },
        }
    }
}

impl fmt::Display for EndHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndHow::Fin => f.write_str("fin"),
            EndHow::Rst => f.write_str("rst"),
            EndHow::Close(code) => write!(f, "close-{code}"),
            EndHow::Http504 => f.write_str("http-504"),
        }
    }
}

impl FromStr for IdleCounts {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "both" => Ok(IdleCounts::Both),
            "down-only" => Ok(IdleCounts::DownOnly),
            "data-only" => Ok(IdleCounts::DataOnly),
            _ => Err(format!(
                "`{text}` is not an idle rule: both, down-only or data-only"
            )),
        }
    }
}

impl fmt::Display for IdleCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdleCounts::Both => "both",
            IdleCounts::DownOnly => "down-only",
            IdleCounts::DataOnly => "data-only",
        })
    }
}

/// A duration in one unit, for text that reads well and parses back.
struct D(Duration);

impl fmt::Display for D {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else if self.0.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", self.0.as_millis())
        } else {
            write!(f, "{}us", self.0.as_micros())
        }
    }
}

impl FromStr for ProxyFault {
    type Err = ProxyFaultParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let fail = |reason: String| ProxyFaultParseError {
            input: text.to_owned(),
            reason,
        };
        let dur = |s: &str| {
            humantime::parse_duration(s)
                .map_err(|e| fail(format!("`{s}` is not a duration like 500ms or 2s ({e})")))
        };
        // `name=value`, `name@value` (mass-disconnect) or a bare name.
        let (name, value) = match text.find(['=', '@']) {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let need = || value.ok_or_else(|| fail(format!("`{name}` needs a value")));
        let none = |fault: ProxyFault| match value {
            None => Ok(fault),
            Some(_) => Err(fail(format!("`{name}` takes no value"))),
        };
        // `DUR[:HOW]`, with how defaulting to fin.
        let dur_how = |v: &str| -> Result<(Duration, EndHow), ProxyFaultParseError> {
            let mut parts = v.split(':');
            let d = dur(parts.next().unwrap_or_default())?;
            let how = match parts.next() {
                Some(h) => h.parse().map_err(fail)?,
                None => EndHow::Fin,
            };
            if parts.next().is_some() {
                return Err(fail("too many `:` parts".to_owned()));
            }
            Ok((d, how))
        };
        Ok(match name {
            "idle-timeout" => {
                let mut parts = need()?.split(':');
                let after = dur(parts.next().unwrap_or_default())?;
                if after.is_zero() {
                    return Err(fail("the idle timeout must be longer than zero".to_owned()));
                }
                let (mut how, mut counts) = (EndHow::Fin, IdleCounts::Both);
                // The optional parts may come in either order.
                for part in parts {
                    match (part.parse::<EndHow>(), part.parse::<IdleCounts>()) {
                        (Ok(h), _) => how = h,
                        (_, Ok(c)) => counts = c,
                        (Err(e), Err(_)) => return Err(fail(e)),
                    }
                }
                ProxyFault::IdleTimeout { after, how, counts }
            }
            "ignore-pings-for-idle" => none(ProxyFault::IgnorePingsForIdle)?,
            "max-lifetime" => {
                let (after, how) = dur_how(need()?)?;
                ProxyFault::MaxLifetime { after, how }
            }
            "random-drop" => {
                let (range, how) = match need()?.split_once(':') {
                    Some((range, how)) => (range, how.parse().map_err(fail)?),
                    None => (need()?, EndHow::Fin),
                };
                let (min, max) = range
                    .split_once('-')
                    .ok_or_else(|| fail(format!("`{range}` is not a range like 1s-4s")))?;
                let (min, max) = (dur(min)?, dur(max)?);
                if min > max {
                    return Err(fail(format!("`{range}`: the minimum is above the maximum")));
                }
                ProxyFault::RandomDrop { min, max, how }
            }
            "reset-after" => ProxyFault::ResetAfter(dur(need()?)?),
            "blackhole-after" => ProxyFault::BlackholeAfter(dur(need()?)?),
            "strip-upgrade" => none(ProxyFault::StripUpgrade)?,
            "max-conns" => {
                let v = need()?;
                let (n, drop) = match v.split_once(':') {
                    Some((n, "drop")) => (n, true),
                    Some((_, other)) => {
                        return Err(fail(format!("`{other}` is not `drop`")));
                    }
                    None => (v, false),
                };
                let limit = n
                    .parse()
                    .map_err(|_| fail(format!("`{n}` is not a number of connections")))?;
                ProxyFault::MaxConns { limit, drop }
            }
            "latency" => ProxyFault::Latency(dur(need()?)?),
            "drop-pongs" => none(ProxyFault::DropPongs)?,
            "swallow-close" => none(ProxyFault::SwallowClose)?,
            "inject-close" => {
                let v = need()?;
                let (code, after) = match v.split_once('@') {
                    Some((code, d)) => (code, dur(d)?),
                    None => (v, Duration::ZERO),
                };
                let code = code
                    .parse()
                    .map_err(|_| fail(format!("`{code}` is not a close code")))?;
                ProxyFault::InjectClose { code, after }
            }
            "stall" => ProxyFault::Stall(dur(need()?)?),
            "mass-disconnect" => {
                let (at, how) = dur_how(need()?)?;
                ProxyFault::MassDisconnect { at, how }
            }
            _ => {
                return Err(fail(format!(
                    "unknown proxy fault; known ones are {PROXY_FAULTS}"
                )))
            }
        })
    }
}

impl fmt::Display for ProxyFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProxyFault::IdleTimeout { after, how, counts } => {
                write!(f, "idle-timeout={}:{how}:{counts}", D(after))
            }
            ProxyFault::IgnorePingsForIdle => f.write_str("ignore-pings-for-idle"),
            ProxyFault::MaxLifetime { after, how } => {
                write!(f, "max-lifetime={}:{how}", D(after))
            }
            ProxyFault::RandomDrop { min, max, how } => {
                write!(f, "random-drop={}-{}:{how}", D(min), D(max))
            }
            ProxyFault::ResetAfter(d) => write!(f, "reset-after={}", D(d)),
            ProxyFault::BlackholeAfter(d) => write!(f, "blackhole-after={}", D(d)),
            ProxyFault::StripUpgrade => f.write_str("strip-upgrade"),
            ProxyFault::MaxConns { limit, drop: false } => write!(f, "max-conns={limit}"),
            ProxyFault::MaxConns { limit, drop: true } => write!(f, "max-conns={limit}:drop"),
            ProxyFault::Latency(d) => write!(f, "latency={}", D(d)),
            ProxyFault::DropPongs => f.write_str("drop-pongs"),
            ProxyFault::SwallowClose => f.write_str("swallow-close"),
            ProxyFault::InjectClose { code, after } => {
                write!(f, "inject-close={code}@{}", D(after))
            }
            ProxyFault::Stall(d) => write!(f, "stall={}", D(d)),
            ProxyFault::MassDisconnect { at, how } => {
                write!(f, "mass-disconnect@{}:{how}", D(at))
            }
        }
    }
}

/// `--time-scale`, checked: a finite number above 0 (the presets'
/// durations are multiplied by it).
pub fn checked_time_scale(time_scale: f64) -> Result<f64, wsdoctor_evidence::ConfigError> {
    if time_scale.is_finite() && time_scale > 0.0 {
        Ok(time_scale)
    } else {
        Err(wsdoctor_evidence::ConfigError::Rule {
            setting: "--time-scale",
            rule: "must be a number above 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_time_scale_is_a_number_above_zero() {
        assert_eq!(checked_time_scale(0.05), Ok(0.05));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                checked_time_scale(bad).map_err(|e| e.to_string()),
                Err("--time-scale must be a number above 0".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_and_round_trips() {
        let table: &[(&str, ProxyFault)] = &[
            (
                "idle-timeout=2s",
                ProxyFault::IdleTimeout {
                    after: ms(2000),
                    how: EndHow::Fin,
                    counts: IdleCounts::Both,
                },
            ),
            (
                "idle-timeout=500ms:down-only:close-1001",
                ProxyFault::IdleTimeout {
                    after: ms(500),
                    how: EndHow::Close(1001),
                    counts: IdleCounts::DownOnly,
                },
            ),
            ("ignore-pings-for-idle", ProxyFault::IgnorePingsForIdle),
            (
                "max-lifetime=3s:rst",
                ProxyFault::MaxLifetime {
                    after: ms(3000),
                    how: EndHow::Rst,
                },
            ),
            ("reset-after=1s", ProxyFault::ResetAfter(ms(1000))),
            (
                "random-drop=500ms-3s",
                ProxyFault::RandomDrop {
                    min: ms(500),
                    max: ms(3000),
                    how: EndHow::Fin,
                },
            ),
            (
                "random-drop=1s-2s:rst",
                ProxyFault::RandomDrop {
                    min: ms(1000),
                    max: ms(2000),
                    how: EndHow::Rst,
                },
            ),
            ("blackhole-after=0s", ProxyFault::BlackholeAfter(ms(0))),
            ("strip-upgrade", ProxyFault::StripUpgrade),
            (
                "max-conns=3:drop",
                ProxyFault::MaxConns {
                    limit: 3,
                    drop: true,
                },
            ),
            ("latency=5ms", ProxyFault::Latency(ms(5))),
            ("drop-pongs", ProxyFault::DropPongs),
            ("swallow-close", ProxyFault::SwallowClose),
            (
                "inject-close=1012@1500ms",
                ProxyFault::InjectClose {
                    code: 1012,
                    after: ms(1500),
                },
            ),
            (
                "inject-close=4000",
                ProxyFault::InjectClose {
                    code: 4000,
                    after: ms(0),
                },
            ),
            ("stall=1s", ProxyFault::Stall(ms(1000))),
            (
                "mass-disconnect@2s",
                ProxyFault::MassDisconnect {
                    at: ms(2000),
                    how: EndHow::Fin,
                },
            ),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<ProxyFault>().as_ref(), Ok(want), "{text}");
            let again = want.to_string().parse::<ProxyFault>();
            assert_eq!(again.as_ref(), Ok(want), "round trip of {want}");
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let table: &[(&str, &str)] = &[
            ("bogus", "unknown proxy fault"),
            ("idle-timeout", "needs a value"),
            ("idle-timeout=0s", "longer than zero"),
            ("idle-timeout=1s:sideways", "not a way to end"),
            ("drop-pongs=1", "takes no value"),
            ("max-conns=x", "not a number"),
            ("inject-close=abc", "not a close code"),
            ("latency=soon", "not a duration"),
            ("random-drop=2s", "not a range"),
            ("random-drop=3s-1s", "above the maximum"),
        ];
        for (text, want) in table {
            match text.parse::<ProxyFault>() {
                Ok(f) => panic!("{text} parsed as {f:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{text}: {e}"),
            }
        }
    }

    #[test]
    fn presets_scale() {
        let alb = ProxyFault::preset("alb", 0.05);
        assert_eq!(
            alb,
            Some(vec![ProxyFault::IdleTimeout {
                after: ms(3000),
                how: EndHow::Fin,
                counts: IdleCounts::Both,
            }])
        );
        for (name, _) in PRESETS {
            assert!(ProxyFault::preset(name, 1.0).is_some(), "{name}");
        }
        assert!(ProxyFault::preset("nope", 1.0).is_none());
    }
}

//! A deterministic generator of ALB and nginx access logs with planted drop
//! patterns whose exact sizes it reports, so tests (and the benchmark) can
//! check that every planted pattern is found, and found exactly.
//!
//! The log is written in entry-time order, one simulated second at a time.
//! Planted:
//! * an idle timeout: 60 % of WebSocket connections last 60.000–60.020 s;
//!   the rest last 1–50 s (10 %) or longer than 61 s (30 %), so the timer is
//!   an idle timer (busy connections outlive it);
//! * a mass disconnect: at the middle of the log every open connection
//!   closes within 400 ms; no other close falls within 5 s of it, and no
//!   connection is opened 55–65 s before it (so that no killed connection
//!   has a lifetime near the idle timeout and the two counts stay exact);
//! * failed upgrades: ALB 502 (no target), nginx 400, both on `/ws`;
//! * reconnect storms: a few clients reconnect every time at a fixed delay;
//! * a load limit: while [`LOAD_LIMIT`] connections are open, every new
//!   WebSocket attempt (storms aside) is answered 503 and never opens.
//!
//! Everything else is background HTTP from random clients.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

/// Which log to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// AWS ALB access log.
    Alb,
    /// nginx `combined` plus ` $request_time`.
    Nginx,
}

/// The nginx `log_format` of the generated nginx logs.
pub(crate) const NGINX_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

/// What was planted, exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Planted {
    /// Lines written.
    pub(crate) lines: u64,
    /// Bytes written.
    pub(crate) bytes: u64,
    /// WebSocket connections written (101).
    pub(crate) connections: u64,
    /// Connections that lasted 60.000–60.020 s.
    pub(crate) idle: u64,
    /// Connections closed by the mass disconnect.
    pub(crate) mass: u64,
    /// Unix ms of the mass disconnect.
    pub(crate) mass_at_ms: i64,
    /// Failed upgrades (storm attempts included on ALB).
    pub(crate) failed: u64,
    /// Clients in a reconnect storm.
    pub(crate) storm_clients: u64,
    /// Attempts answered 503 because [`LOAD_LIMIT`] connections were open.
    pub(crate) load_limited: u64,
}

/// Open connections at which new upgrades are refused with 503.
pub(crate) const LOAD_LIMIT: u64 = 120;

/// 2026-01-15T00:00:00Z.
const T0_MS: i64 = 1_768_435_200_000;
const WS_PER_S: u64 = 2;
const BG_PER_S: u64 = 38;
const STORM_CLIENTS: u64 = 6;
const STORM_ATTEMPTS: u64 = 10;
const EXCLUSION_MS: i64 = 5000;

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn ip(&mut self) -> String {
        let v = self.next();
        format!(
            "10.{}.{}.{}",
            (v >> 8) & 0xff,
            (v >> 16) & 0xff,
            (v >> 24) & 0xff
        )
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Conn {
    end_ms: i64,
    start_ms: i64,
    client: String,
    idle: bool,
    status: u16,
}

fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms.rem_euclid(1000),
    )
}

fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s, frac) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}000Z")
}

fn clf(ms: i64) -> String {
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, _) = civil(ms);
    let month = M[usize::try_from(mo - 1).unwrap_or(0)];
    format!("{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000")
}

struct Writer<'w, W: Write> {
    out: &'w mut W,
    flavor: Flavor,
    planted: Planted,
    line: String,
}

impl<W: Write> Writer<'_, W> {
    fn emit(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.planted.lines += 1;
        self.planted.bytes += text.len() as u64 + 1;
        Ok(())
    }

    fn background(&mut self, at_ms: i64, rng: &mut Rng) -> io::Result<()> {
        let ip = rng.ip();
        let n = rng.below(500);
        self.line.clear();
        match self.flavor {
            Flavor::Alb => self.line.push_str(&format!(
                "https {} app/my-lb/50dc6c495c0c9188 {ip}:{} 10.0.1.5:8080 0.001 0.004 0.000 200 200 412 3201 \"GET https://app.example.com:443/static/app.{n}.js HTTP/1.1\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 \"Root=1-65a5b0c3-{:016x}\" \"app.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/1234\" 0 {} \"forward\" \"-\" \"-\" \"10.0.1.5:8080\" \"200\" \"-\" \"-\" TID_{:08x}",
                iso(at_ms), 1024 + n, rng.next(), iso(at_ms - 5), rng.below(1 << 32)
            )),
            Flavor::Nginx => self.line.push_str(&format!(
                "{ip} - - [{}] \"GET /static/app.{n}.js HTTP/1.1\" 200 3201 \"https://app.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\" 0.004",
                clf(at_ms)
            )),
        }
        let line = std::mem::take(&mut self.line);
        self.emit(&line)?;
        self.line = line;
        Ok(())
    }

    fn websocket(&mut self, c: &Conn, rng: &mut Rng) -> io::Result<()> {
        let life = c.end_ms - c.start_ms;
        let text = match (self.flavor, c.status) {
            (Flavor::Alb, 101) => format!(
                "wss {} app/my-lb/50dc6c495c0c9188 {}:{} 10.0.1.7:8080 0.000 0.001 0.000 101 101 218 786 \"GET https://app.example.com:443/ws HTTP/1.1\" \"Mozilla/5.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ws/73e2d6bc24d8a067 \"Root=1-65a5b0c3-{:016x}\" \"app.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/1234\" 1 {} \"forward\" \"-\" \"-\" \"10.0.1.7:8080\" \"101\" \"-\" \"-\" TID_{:08x}",
                iso(c.end_ms), c.client, 1024 + rng.below(60000), rng.next(), iso(c.start_ms), rng.below(1 << 32)
            ),
            (Flavor::Alb, status) => format!(
                "wss {} app/my-lb/50dc6c495c0c9188 {}:{} - -1 -1 -1 {status} - 218 0 \"GET https://app.example.com:443/ws HTTP/1.1\" \"Mozilla/5.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ws/73e2d6bc24d8a067 \"Root=1-65a5b0c3-{:016x}\" \"app.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/1234\" 1 {} \"forward\" \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" TID_{:08x}",
                iso(c.end_ms), c.client, 1024 + rng.below(60000), rng.next(), iso(c.start_ms), rng.below(1 << 32)
            ),
            (Flavor::Nginx, status) => format!(
                "{} - - [{}] \"GET /ws HTTP/1.1\" {status} 786 \"-\" \"Mozilla/5.0\" {}.{:03}",
                c.client, clf(c.end_ms), life / 1000, life % 1000
            ),
        };
        self.emit(&text)?;
        if c.status == 101 {
            self.planted.connections += 1;
        } else {
            self.planted.failed += 1;
        }
        Ok(())
    }
}

/// How a [`PlantedClient`] waits after each connection closes.
#[allow(
    dead_code,
    reason = "only tests plant clients; the genlogs example does not"
)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Retry {
    /// A random wait in `lo_ms..hi_ms`, the same range every time.
    Uniform { lo_ms: u64, hi_ms: u64 },
    /// Exponential backoff with full jitter: a random wait in
    /// `0..min(cap, base·2^n)` before attempt n.
    FullJitter { base_ms: u64, cap_ms: u64 },
}

/// A client planted on top of the log's patterns: from `start_s` seconds
/// into the log it opens `attempts` WebSockets, each living `life_ms`,
/// waiting per `retry` after each close. Use a `192.0.2.x` address: the
/// mass disconnect and the load limit leave those alone.
#[derive(Debug, Clone)]
pub(crate) struct PlantedClient {
    pub(crate) client: String,
    pub(crate) start_s: i64,
    pub(crate) attempts: u64,
    pub(crate) life_ms: i64,
    pub(crate) retry: Retry,
}

/// Writes about `target_bytes` of log to `out` and says what was planted.
pub(crate) fn generate<W: Write>(
    flavor: Flavor,
    target_bytes: u64,
    seed: u64,
    out: &mut W,
) -> io::Result<Planted> {
    generate_with(flavor, target_bytes, seed, &[], out)
}

/// As [`generate`], with `clients` planted too (an empty list writes the
/// very same log as [`generate`]).
// Test support: one seeded loop; its order of random draws fixes every planted count, so it stays whole.
#[allow(clippy::too_many_lines)]
pub(crate) fn generate_with<W: Write>(
    flavor: Flavor,
    target_bytes: u64,
    seed: u64,
    clients: &[PlantedClient],
    out: &mut W,
) -> io::Result<Planted> {
    let mut rng = Rng(seed);
    // Each planted client: (next start ms, attempts made).
    let mut planted_clients: Vec<(i64, u64)> = clients
        .iter()
        .map(|c| (T0_MS + c.start_s * 1000, 0))
        .collect();
    let avg_line = match flavor {
        Flavor::Alb => 560,
        Flavor::Nginx => 165,
    };
    let seconds = (target_bytes / (avg_line * (WS_PER_S + BG_PER_S))).max(120);
    // Aligned to a second: nginx times have second precision.
    let mass_ms = T0_MS + i64::try_from(seconds / 2).unwrap_or(60) * 1000;
    let mut w = Writer {
        out,
        flavor,
        planted: Planted {
            mass_at_ms: mass_ms,
            storm_clients: STORM_CLIENTS,
            ..Planted::default()
        },
        line: String::new(),
    };
    let mut open: BinaryHeap<Reverse<Conn>> = BinaryHeap::new();
    // Storm clients: (client, next start ms, attempts left).
    let mut storms: Vec<(String, i64, u64)> = (0..STORM_CLIENTS)
        .map(|i| {
            let start = T0_MS + 10_000 + i64::try_from(rng.below(seconds * 500)).unwrap_or(0);
            // A whole storm (10 attempts, 2 s apart at most) keeps clear of
            // the mass disconnect.
            let start = if (mass_ms - 35_000..mass_ms + 10_000).contains(&start) {
                mass_ms + 10_000
            } else {
                start
            };
            (
                format!("192.0.2.{}", 10 + i),
                start / 1000 * 1000,
                STORM_ATTEMPTS,
            )
        })
        .collect();
    let mut sec = 0i64;
    let mut pending: Vec<(i64, Option<Conn>)> = Vec::new();
    while w.planted.bytes < target_bytes {
        let base = T0_MS + sec * 1000;
        pending.clear();
        for _ in 0..BG_PER_S {
            pending.push((base + i64::try_from(rng.below(1000)).unwrap_or(0), None));
        }
        for _ in 0..WS_PER_S {
            let start = base + i64::try_from(rng.below(1000)).unwrap_or(0);
            if (55_000..=65_000).contains(&(mass_ms - start)) {
                continue;
            }
            let roll = rng.unit();
            let (life, idle) = if roll < 0.6 {
                (60_000 + i64::try_from(rng.below(21)).unwrap_or(0), true)
            } else if roll < 0.7 {
                (1000 + i64::try_from(rng.below(49_000)).unwrap_or(0), false)
            } else {
                (
                    61_500 + (-(1.0 - rng.unit()).ln() * 600_000.0) as i64,
                    false,
                )
            };
            let mut end = start + life;
            if start < mass_ms && (end - mass_ms).abs() <= EXCLUSION_MS && end < mass_ms {
                end = mass_ms - EXCLUSION_MS - 1 - i64::try_from(rng.below(1000)).unwrap_or(0);
                if end <= start {
                    continue;
                }
            } else if start >= mass_ms && end <= mass_ms + EXCLUSION_MS {
                end = mass_ms + EXCLUSION_MS + 1 + i64::try_from(rng.below(1000)).unwrap_or(0);
            }
            let idle = idle && end - start == life;
            let held = open
                .iter()
                .filter(|c| c.0.status == 101 && c.0.start_ms <= start && c.0.end_ms > start)
                .count() as u64;
            // The second of the mass disconnect is left alone: its closes
            // are not in the heap any more by the time they are written.
            if held >= LOAD_LIMIT && base != mass_ms {
                w.planted.load_limited += 1;
                open.push(Reverse(Conn {
                    end_ms: start + 2,
                    start_ms: start,
                    client: rng.ip(),
                    idle: false,
                    status: 503,
                }));
                continue;
            }
            open.push(Reverse(Conn {
                end_ms: end,
                start_ms: start,
                client: rng.ip(),
                idle,
                status: 101,
            }));
        }
        // Failed upgrades from random clients, one every 20 s.
        if rng.below(20) == 0 {
            let at = base + i64::try_from(rng.below(1000)).unwrap_or(0);
            let status = if flavor == Flavor::Alb { 502 } else { 400 };
            open.push(Reverse(Conn {
                end_ms: at + 2,
                start_ms: at,
                client: rng.ip(),
                idle: false,
                status,
            }));
        }
        for s in &mut storms {
            if s.2 > 0 && s.1 >= base && s.1 < base + 1000 {
                // ALB: a 502 after 2 ms, retried 1 s later. nginx: a
                // 1 s connection, retried 1 s after it closes (whole
                // seconds, as nginx logs them).
                let (life, status, gap) = match flavor {
                    Flavor::Alb => (2, 502, 1000),
                    Flavor::Nginx => (1000, 101, 1000),
                };
                open.push(Reverse(Conn {
                    end_ms: s.1 + life,
                    start_ms: s.1,
                    client: s.0.clone(),
                    idle: false,
                    status,
                }));
                s.1 += life + gap;
                s.2 -= 1;
            }
        }
        for (c, state) in clients.iter().zip(planted_clients.iter_mut()) {
            while state.1 < c.attempts && state.0 < base + 1000 {
                let start = state.0.max(base);
                let end = start + c.life_ms;
                open.push(Reverse(Conn {
                    end_ms: end,
                    start_ms: start,
                    client: c.client.clone(),
                    idle: false,
                    status: 101,
                }));
                let wait = match c.retry {
                    Retry::Uniform { lo_ms, hi_ms } => lo_ms + rng.below(hi_ms - lo_ms),
                    Retry::FullJitter { base_ms, cap_ms } => {
                        let ceiling = base_ms.saturating_mul(1 << state.1.min(30)).min(cap_ms);
                        rng.below(ceiling)
                    }
                };
                state.0 = end + i64::try_from(wait).unwrap_or(0);
                state.1 += 1;
            }
        }
        if base == mass_ms {
            let mut kept = Vec::new();
            while let Some(Reverse(c)) = open.pop() {
                if c.start_ms >= mass_ms || c.status != 101 || c.client.starts_with("192.0.2.") {
                    kept.push(c);
                    continue;
                }
                let end = mass_ms + i64::try_from(rng.below(400)).unwrap_or(0);
                w.planted.mass += 1;
                pending.push((
                    end,
                    Some(Conn {
                        end_ms: end,
                        idle: false,
                        ..c
                    }),
                ));
            }
            open.extend(kept.into_iter().map(Reverse));
        }
        while open.peek().is_some_and(|c| c.0.end_ms < base + 1000) {
            if let Some(Reverse(c)) = open.pop() {
                pending.push((c.end_ms, Some(c)));
            }
        }
        pending.sort_by_key(|p| p.0);
        for (at, conn) in std::mem::take(&mut pending) {
            match conn {
                None => w.background(at, &mut rng)?,
                Some(c) => {
                    if c.idle {
                        w.planted.idle += 1;
                    }
                    w.websocket(&c, &mut rng)?;
                }
            }
        }
        sec += 1;
    }
    // Connections still open are written as they will close, so the log
    // shows every connection the load limit counted (storms aside, whose
    // unfinished clients are not counted).
    while let Some(Reverse(c)) = open.pop() {
        if c.client.starts_with("192.0.2.") {
            continue;
        }
        if c.idle {
            w.planted.idle += 1;
        }
        w.websocket(&c, &mut rng)?;
    }
    // Storm clients that did not finish before the end are not counted.
    w.planted.storm_clients = storms.iter().filter(|s| s.2 == 0).count() as u64;
    Ok(w.planted)
}

//! `wsdoctor load`: one row per step (target, attempted, opened, failures,
//! drops, handshake percentiles), then the findings.

use wsdoctor_diagnosis::Finding;
use wsdoctor_evidence::load::{LoadEvidence, CLOSE_DRAIN_MAX_SECS, CLOSE_DRAIN_STALL_SECS};

use super::facts::bytes;
use super::findings::render_findings;
use super::layout::{grid, section, Cell};
use super::style::{Style, Tone};

fn ms(us: u64) -> String {
    if us == 0 {
        "—".to_owned()
    } else if us < 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.0} ms", us as f64 / 1000.0)
    }
}

fn counts<K: std::fmt::Display>(map: &std::collections::BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "—".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The generator's memory at the last step that measured it: what one
/// open connection costs it, with or without permessage-deflate.
fn memory_line(evidence: &LoadEvidence) -> Option<String> {
    let step = evidence
        .steps
        .iter()
        .rev()
        .find(|s| s.bytes_per_connection.is_some())?;
    let rss = step.rss_bytes?;
    let per_connection = step.bytes_per_connection?;
    let deflate = if evidence.deflate_offered {
        "permessage-deflate offered"
    } else {
        "no compression offered"
    };
    let kernel = match (step.kernel_bytes_per_socket, step.kernel, evidence.kernel_start) {
        (Some(per_socket), Some(now), Some(start)) => format!(
            " · kernel: {} per TCP socket (slab {}, TCP buffers {}, over {} sockets added, machine-wide)",
            bytes(per_socket),
            signed_bytes(now.slab_bytes, start.slab_bytes),
            signed_bytes(now.tcp_buffer_bytes, start.tcp_buffer_bytes),
            now.tcp_sockets.saturating_sub(start.tcp_sockets)
        ),
        _ => String::new(),
    };
    Some(format!(
        "generator memory: {} resident after step {} (+{} since the start) · {} per open connection ({deflate}){kernel}",
        bytes(rss),
        step.index,
        bytes(rss.saturating_sub(evidence.rss_start_bytes.unwrap_or(rss))),
        bytes(per_connection),
    ))
}

fn signed_bytes(now: u64, start: u64) -> String {
    if now >= start {
        format!("+{}", bytes(now - start))
    } else {
        format!("-{}", bytes(start - now))
    }
}

/// How long closing the connections took, when there were some to close.
fn close_line(evidence: &LoadEvidence) -> Option<String> {
    let close = evidence.close.filter(|c| c.open_at_close > 0)?;
    let why = if close.interrupted {
        "on Ctrl-C"
    } else {
        "at the end"
    };
    let unfinished = if close.unfinished > 0 {
        format!(
            "; {} had not finished their closing handshake when the drain ended (none finished for {CLOSE_DRAIN_STALL_SECS} s, or {CLOSE_DRAIN_MAX_SECS} s in all)",
            close.unfinished
        )
    } else {
        String::new()
    };
    Some(format!(
        "closed {} connections {why} in {:.1} s{unfinished}",
        close.open_at_close,
        close.took_ms as f64 / 1000.0
    ))
}

/// Renders a load ramp and its findings.
pub fn render_load(evidence: &LoadEvidence, findings: &[Finding], style: Style) -> String {
    let mut rows = vec![vec![
        Cell::left("step"),
        Cell::right("target"),
        Cell::right("tried"),
        Cell::right("opened"),
        Cell::left("failed"),
        Cell::left("dropped"),
        Cell::right("open after"),
        Cell::right("p50"),
        Cell::right("p99"),
        Cell::right("max"),
    ]];
    for s in &evidence.steps {
        let bad = !s.failures.is_empty() || !s.drops.is_empty();
        rows.push(vec![
            Cell::left(s.index.to_string()),
            Cell::right(s.target.to_string()),
            Cell::right(s.attempted.to_string()),
            Cell::right(s.opened.to_string()),
            Cell::left(counts(&s.failures)).tone(if s.failures.is_empty() {
                Tone::Dim
            } else {
                Tone::Error
            }),
            Cell::left(counts(&s.drops)).tone(if s.drops.is_empty() {
                Tone::Dim
            } else {
                Tone::Error
            }),
            Cell::right(s.open_at_end.to_string()).tone(if bad {
                Tone::Warning
            } else {
                Tone::Good
            }),
            Cell::right(ms(s.handshake.p50_us)),
            Cell::right(ms(s.handshake.p99_us)),
            Cell::right(ms(s.handshake.max_us)),
        ]);
    }
    let g = &evidence.generator;
    let mut body = vec![
        format!(
            "{} · up to {} connections at {:.0}/s · ran {:.1} s · peak {} open",
            evidence.target,
            evidence.concurrency,
            evidence.rate,
            evidence.ran_ms as f64 / 1000.0,
            evidence.peak_open
        ),
        format!(
            "generator: open-file limit {} (hard {}){}",
            g.nofile_now,
            g.nofile_hard,
            if g.source_ips.is_empty() {
                String::new()
            } else {
                format!(", {} source addresses", g.source_ips.len())
            }
        ),
    ];
    if !evidence.shards.is_empty() {
        body.push(format!(
            "merged from {} shards: {}",
            evidence.shards.len(),
            evidence
                .shards
                .iter()
                .map(|s| format!("#{} {} tried, peak {}", s.index, s.attempted, s.peak_open))
                .collect::<Vec<_>>()
                .join(" · ")
        ));
    } else if let Some(shard) = evidence.shard {
        body.push(format!(
            "shard {}/{} of the ramp: merge all {} with `wsdoctor merge`",
            shard.index, shard.count, shard.count
        ));
    }
    body.extend(memory_line(evidence));
    body.extend(close_line(evidence));
    for note in &g.notes {
        body.push(format!("note: {note}"));
    }
    body.push(String::new());
    body.push("handshake latency (connect start to 101) per step:".to_owned());
    body.extend(grid(&rows, 0, style));
    let mut out = String::new();
    section(&mut out, "Load ramp", &body, style);
    let findings: Vec<String> = render_findings(findings, style)
        .lines()
        .map(str::to_owned)
        .collect();
    section(&mut out, "Findings", &findings, style);
    out
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::load::LoadStep;

    use super::*;

    #[test]
    fn memory_per_connection_is_shown_when_measured() {
        let mut step = LoadStep {
            index: 2,
            open_at_end: 1000,
            ..LoadStep::default()
        };
        step.set_memory(Some(40 << 20), Some(33 << 20));
        let mut evidence = LoadEvidence {
            steps: vec![step],
            rss_start_bytes: Some(33 << 20),
            deflate_offered: true,
            ..LoadEvidence::default()
        };
        let text = render_load(&evidence, &[], Style::PLAIN);
        assert!(
            text.contains("generator memory: 40 MiB resident after step 2 (+7.0 MiB since the start) · 7.2 KiB per open connection (permessage-deflate offered)"),
            "{text}"
        );
        let start = wsdoctor_evidence::load::KernelSample {
            slab_bytes: 1 << 30,
            tcp_sockets: 10,
            ..Default::default()
        };
        let held = wsdoctor_evidence::load::KernelSample {
            slab_bytes: (1 << 30) + 2000 * 3700,
            tcp_sockets: 2010,
            ..Default::default()
        };
        evidence.kernel_start = Some(start);
        evidence.steps[0].set_kernel(Some(held), Some(&start));
        evidence.close = Some(wsdoctor_evidence::load::CloseSummary {
            open_at_close: 1000,
            took_ms: 1250,
            unfinished: 0,
            interrupted: true,
        });
        let text = render_load(&evidence, &[], Style::PLAIN);
        assert!(
            text.contains("per open connection (permessage-deflate offered) · kernel: 3.6 KiB per TCP socket (slab +7.1 MiB, TCP buffers +0 B, over 2000 sockets added, machine-wide)"),
            "{text}"
        );
        assert!(
            text.contains("closed 1000 connections on Ctrl-C in 1.2 s"),
            "{text}"
        );
        evidence.steps[0].set_memory(None, Some(33 << 20));
        let text = render_load(&evidence, &[], Style::PLAIN);
        assert!(!text.contains("generator memory"), "{text}");
    }
}

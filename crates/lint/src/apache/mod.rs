//! Apache httpd: `ProxyPass` (and `RewriteRule … [P]`) targets, whether
//! they forward WebSocket upgrades, and the timers of the tunnel.
//!
//! From the kb (`apache-httpd`, httpd 2.4.x sources): since 2.4.47
//! mod_proxy_http tunnels upgrades given `upgrade=websocket` on the
//! `ProxyPass` line; `ws://`/`wss://` targets go through mod_proxy_wstunnel
//! (which hands over to mod_proxy_http since 2.4.48). The tunnel's idle
//! limit is the larger of the backend timeout (`timeout=` on the
//! `ProxyPass` line, else `ProxyTimeout`, else `Timeout`) and the client's
//! `Timeout` (default 60 s). `ProxyWebsocketIdleTimeout` only matters on
//! the legacy wstunnel path.

mod lexer;

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, Edit, EditAction, HopConfig, HopTimer, ProblemKind, Span, TimerRole, TimerSetting,
    UpgradeSetting, ValueStyle,
};

use crate::doc::{is_placeholder, seconds_ms};
use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::source::ReadError;
use lexer::{Line, LineKind, Word};

/// True for a line that reads like an httpd directive: a `<Section>` tag
/// or a CamelCase directive name (nginx's are lower case and end in `;`).
pub(crate) fn is_directive_line(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with("</") || (line.starts_with('<') && line.ends_with('>')) {
        return true;
    }
    let Some(word) = line.split_whitespace().next() else {
        return false;
    };
    !line.ends_with(';')
        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && word.chars().all(|c| c.is_ascii_alphanumeric())
        && word.chars().skip(1).any(|c| c.is_ascii_lowercase())
}

/// Server-wide or virtual-host timers, as written.
#[derive(Debug, Clone, Default)]
struct Timers {
    timeout: Option<TimerSetting>,
    proxy_timeout: Option<TimerSetting>,
    wstunnel_idle: Option<TimerSetting>,
}

/// A proxying line found while reading, judged once the whole file (and
/// so every server-wide timer) is known.
struct Proxy {
    /// `ProxyPass /ws/` in `<VirtualHost *:80>`.
    name: String,
    directive: Word,
    url: Word,
    path: Option<String>,
    /// `key=value` parameters of the ProxyPass line.
    params: Vec<Word>,
    /// The virtual host it is in (index into the file's list), whose
    /// timers apply wherever in the block they are written.
    vhost: Option<usize>,
    /// The physical line, when the directive is alone on one line (so an
    /// edit can rewrite it).
    single_line: bool,
    rewrite: bool,
}

fn setting(loader: &mut Loader, file: &str, words: &[Word]) -> Option<TimerSetting> {
    let value = words.get(1)?;
    let span = span(file, value);
    let v = if is_placeholder(&value.text) {
        loader.problem(
            ProblemKind::Templated,
            format!(
                "`{}` is filled in at deploy time; its value is unknown here",
                value.text
            ),
            span.clone(),
        );
        None
    } else {
        let v = seconds_ms(&value.text);
        if v.is_none() {
            loader.problem(
                ProblemKind::InvalidValue,
                format!("`{}` is not a number of seconds", value.text),
                span.clone(),
            );
        }
        v
    };
    Some(TimerSetting {
        value: v,
        raw: value.text.clone(),
        span,
        inherited: false,
    })
}

fn span(file: &str, w: &Word) -> Span {
    Span {
        file: file.to_owned(),
        line: w.line,
        column: w.column,
        len: w.len.max(1),
    }
}

/// Reads one httpd file (includes are not followed; name the files or the
/// directory instead).
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Apache, None)?;
    let file = text.display.clone();
    let (lines, unclosed) = lexer::lines(&text.text);
    for u in unclosed {
        loader.problem(
            ProblemKind::Syntax,
            "quote is never closed",
            Span {
                file: file.clone(),
                line: u.line,
                column: u.column,
                len: 1,
            },
        );
    }
    let mut scopes = Scopes::default();
    for line in &lines {
        read_line(loader, &file, line, &mut scopes);
    }
    let Scopes {
        server,
        vhosts,
        proxies,
        ..
    } = scopes;
    let hops: Vec<HopConfig> = proxies
        .into_iter()
        .map(|p| {
            let vhost = p
                .vhost
                .and_then(|i| vhosts.get(i))
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            hop(&file, &text.text, &server, &vhost, p)
        })
        .collect();
    loader.evidence.hops.extend(hops);
    Ok(())
}

/// What is open while reading, and what was found.
#[derive(Default)]
struct Scopes {
    server: Timers,
    /// Every `<VirtualHost>`: its label and timers.
    vhosts: Vec<(String, Timers)>,
    /// The open `<VirtualHost>`, if any.
    vhost: Option<usize>,
    location: Option<String>,
    proxies: Vec<Proxy>,
}

fn read_line(loader: &mut Loader, file: &str, line: &Line, scopes: &mut Scopes) {
    let Some(head) = line.words.first() else {
        return;
    };
    let Scopes {
        server,
        vhosts,
        vhost: open_vhost,
        location,
        proxies,
    } = scopes;
    let vhost_label = open_vhost
        .and_then(|i| vhosts.get(i))
        .map(|(label, _)| label.clone());
    let name = head.text.to_ascii_lowercase();
    match line.kind {
        LineKind::Open => {
            let args: Vec<&str> = line.words[1..].iter().map(|w| w.text.as_str()).collect();
            match name.as_str() {
                "virtualhost" => {
                    vhosts.push((
                        format!("<VirtualHost {}>", args.join(" ")),
                        Timers::default(),
                    ));
                    *open_vhost = Some(vhosts.len() - 1);
                }
                "location" => *location = args.first().map(|s| (*s).to_owned()),
                _ => {}
            }
            return;
        }
        LineKind::Close => {
            match name.as_str() {
                "virtualhost" => *open_vhost = None,
                "location" => *location = None,
                _ => {}
            }
            return;
        }
        LineKind::Directive => {}
    }
    let scope = match open_vhost.and_then(|i| vhosts.get_mut(i)) {
        Some((_, t)) => t,
        None => server,
    };
    match name.as_str() {
        "timeout" => scope.timeout = setting(loader, file, &line.words),
        "proxytimeout" => scope.proxy_timeout = setting(loader, file, &line.words),
        "proxywebsocketidletimeout" => scope.wstunnel_idle = setting(loader, file, &line.words),
        "proxypass" | "proxypassmatch" => {
            // In <Location>, the path is the location's and the URL comes first.
            let (path, rest) = match location {
                Some(l) => (Some(l.clone()), &line.words[1..]),
                None => (
                    line.words.get(1).map(|w| w.text.clone()),
                    line.words.get(2..).unwrap_or(&[]),
                ),
            };
            let Some(url) = rest.first() else { return };
            if url.text == "!" {
                return;
            }
            let where_ = vhost_label.unwrap_or_else(|| "the main server".to_owned());
            proxies.push(Proxy {
                name: format!(
                    "{} {} in {where_}",
                    head.text,
                    path.as_deref().unwrap_or("?")
                ),
                directive: head.clone(),
                url: url.clone(),
                path,
                params: rest[1..].to_vec(),
                vhost: *open_vhost,
                single_line: line.first == line.last,
                rewrite: false,
            });
        }
        "rewriterule" => {
            let (Some(pattern), Some(target)) = (line.words.get(1), line.words.get(2)) else {
                return;
            };
            let proxied = line.words.get(3).is_some_and(|f| {
                f.text
                    .trim_matches(['[', ']'])
                    .split(',')
                    .any(|x| x.eq_ignore_ascii_case("P"))
            });
            if !proxied {
                return;
            }
            let where_ = vhost_label.unwrap_or_else(|| "the main server".to_owned());
            proxies.push(Proxy {
                name: format!("RewriteRule {} [P] in {where_}", pattern.text),
                directive: head.clone(),
                url: target.clone(),
                path: Some(pattern.text.clone()),
                params: Vec::new(),
                vhost: *open_vhost,
                single_line: line.first == line.last,
                rewrite: true,
            });
        }
        _ => {}
    }
}

fn param<'a>(p: &'a Proxy, key: &str) -> Option<&'a Word> {
    p.params.iter().find(|w| {
        w.text
            .split_once('=')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case(key))
    })
}

/// The source line of a single-line directive, without its indentation,
/// with `extra` appended.
fn line_plus(text: &str, line: u32, extra: &str) -> Option<String> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    Some(format!("{} {extra}", l.trim()))
}

fn hop(file: &str, text: &str, server: &Timers, vhost: &Timers, p: Proxy) -> HopConfig {
    let url = p.url.text.to_ascii_lowercase();
    let tunnel = url.starts_with("ws://") || url.starts_with("wss://");
    let upgrade_param = param(&p, "upgrade");
    let websocket = if tunnel {
        Some(format!("it proxies to {}", p.url.text))
    } else if let Some(u) = upgrade_param {
        Some(format!("it sets {}", u.text))
    } else if p.path.as_deref().is_some_and(names_websocket) {
        Some(format!(
            "its path `{}` names a WebSocket endpoint",
            p.path.as_deref().unwrap_or_default()
        ))
    } else if names_websocket(&p.url.text) {
        Some(format!(
            "its backend {} names a WebSocket server",
            p.url.text
        ))
    } else {
        None
    };
    let needs_upgrade = !tunnel && upgrade_param.is_none() && !p.rewrite;
    let upgrade = if needs_upgrade {
        UpgradeSetting {
            enabled: false,
            what: "`upgrade=websocket` on the ProxyPass line".to_owned(),
            span: span(file, &p.url),
            fix: p
                .single_line
                .then(|| line_plus(text, p.directive.line, "upgrade=websocket"))
                .flatten()
                .map(|l| Edit::new(file, p.directive.line, EditAction::Replace, vec![l])),
        }
    } else {
        UpgradeSetting {
            enabled: true,
            what: upgrade_param.map_or_else(
                || {
                    format!(
                        "a {} target (mod_proxy_wstunnel)",
                        &url[..url.find(':').unwrap_or(0)]
                    )
                },
                |u| u.text.clone(),
            ),
            span: span(file, upgrade_param.unwrap_or(&p.url)),
            fix: None,
        }
    };
    let (timer, notes) = idle_timer(file, text, server, vhost, &p, needs_upgrade);
    HopConfig {
        product: "apache-httpd".to_owned(),
        name: p.name,
        span: span(file, &p.directive),
        source: ConfigKind::Apache,
        websocket,
        timers: vec![timer],
        upgrade: Some(upgrade),
        notes,
    }
}

/// The tunnel's idle limit: max(backend timeout, client Timeout).
fn idle_timer(
    file: &str,
    text: &str,
    server: &Timers,
    vhost: &Timers,
    p: &Proxy,
    add_upgrade: bool,
) -> (HopTimer, Vec<String>) {
    let timeout = vhost.timeout.clone().or_else(|| server.timeout.clone());
    let proxy_timeout = vhost
        .proxy_timeout
        .clone()
        .or_else(|| server.proxy_timeout.clone());
    let mut notes = Vec::new();
    // `timeout=N` on the ProxyPass line: its value characters exactly.
    let own = param(p, "timeout").map(|w| {
        let raw = w.text.split_once('=').map_or("", |(_, v)| v).to_owned();
        let offset = w
            .len
            .saturating_sub(u32::try_from(raw.chars().count()).unwrap_or(0));
        TimerSetting {
            value: seconds_ms(&raw),
            span: Span {
                file: file.to_owned(),
                line: w.line,
                column: w.column + offset,
                len: u32::try_from(raw.chars().count()).unwrap_or(1).max(1),
            },
            raw,
            inherited: false,
        }
    });
    let backend = own
        .clone()
        .or_else(|| proxy_timeout.clone())
        .or_else(|| timeout.clone());
    // The larger of the two governs; unknown values leave it unknown.
    let client_ms = timeout.as_ref().map_or(Some(60_000), |t| t.value);
    let backend_ms = backend.as_ref().map_or(Some(60_000), |t| t.value);
    let (key, mut governing) = match (backend_ms, client_ms) {
        (Some(b), Some(c)) if b >= c => (
            if own.is_some() {
                "timeout"
            } else if proxy_timeout.is_some() {
                "ProxyTimeout"
            } else {
                "Timeout"
            },
            backend,
        ),
        (Some(_), Some(_)) => ("Timeout", timeout),
        _ => (
            "ProxyTimeout",
            backend.filter(|b| b.value.is_none()).or(timeout),
        ),
    };
    if own.is_none() {
        // Set for the whole server: raised on this ProxyPass line.
        if let Some(g) = &mut governing {
            g.inherited = true;
        }
    }
    if let Some(w) = &vhost
        .wstunnel_idle
        .clone()
        .or_else(|| server.wstunnel_idle.clone())
    {
        notes.push(format!(
            "ProxyWebsocketIdleTimeout {} applies only on the legacy mod_proxy_wstunnel path (ProxyWebsocketFallbackToProxyHttp Off); since httpd 2.4.48 the tunnel uses ProxyTimeout/Timeout",
            w.raw
        ));
    }
    let extra = if add_upgrade {
        "upgrade=websocket timeout={value}"
    } else {
        "timeout={value}"
    };
    let insert = (own.is_none() && p.single_line && !p.rewrite)
        .then(|| line_plus(text, p.directive.line, extra))
        .flatten()
        .map(|l| Edit::new(file, p.directive.line, EditAction::Replace, vec![l]));
    (
        HopTimer {
            key: key.to_owned(),
            role: TimerRole::Idle,
            setting: governing,
            style: ValueStyle::Seconds,
            insert,
        },
        notes,
    )
}

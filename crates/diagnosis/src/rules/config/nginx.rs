//! nginx rules: does each WebSocket location forward the upgrade, with
//! HTTP/1.1, and what do reloads and the connection budget mean for it.
//! Timers are judged with every other hop in [`super::chain`].

use wsdoctor_evidence::config::{
    ConfigEvidence, Edit, EditAction, HeaderSetting, NginxMap, NginxRoute, Span,
};

use super::drain::{self, ReloadDrain};
use super::{is_typo, kb_fix, ConfigFinding, Hop};
use crate::finding::{CauseId, Severity};
use crate::rules::common::fix;

const NGINX: &str = "nginx";

/// Words in a location path or upstream name that say "WebSocket here".
use wsdoctor_evidence::config::WEBSOCKET_WORDS as WS_WORDS;

/// The first nginx version whose `proxy_http_version` default is 1.1.
const HTTP11_DEFAULT_SINCE: (u32, u32, u32) = (1, 29, 7);

/// Why a route is taken to carry WebSockets, or `None`.
pub(super) fn intent(route: &NginxRoute) -> Option<String> {
    let headers = route.headers.iter().chain(&route.shadowed_headers);
    for h in headers {
        if h.name.eq_ignore_ascii_case("upgrade") || is_typo(&h.name, "upgrade") {
            return Some(format!(
                "it sets an Upgrade header ({})",
                h.span.file_line()
            ));
        }
        if h.name.eq_ignore_ascii_case("connection") && h.value.contains("upgrade") {
            return Some(format!(
                "it sets Connection for upgrades ({})",
                h.span.file_line()
            ));
        }
    }
    let words = |text: &str| -> bool {
        text.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .any(|w| WS_WORDS.contains(&w))
    };
    if let Some(path) = route.location.as_deref().filter(|p| words(p)) {
        return Some(format!("its path `{path}` names a WebSocket endpoint"));
    }
    let upstream = route.proxy_pass.raw.as_str();
    if words(upstream) {
        return Some(format!(
            "its upstream `{upstream}` names a WebSocket backend"
        ));
    }
    None
}

/// `location /ws/` or `server example.com`: how findings name a route.
pub(super) fn route_name(route: &NginxRoute) -> String {
    match (&route.location, &route.server_name) {
        (Some(l), _) => format!("location {l}"),
        (None, Some(s)) => format!("server {s}"),
        (None, None) => "this server".to_owned(),
    }
}

pub(super) fn diagnose(ev: &ConfigEvidence) -> Vec<ConfigFinding> {
    let nginx = &ev.nginx;
    let ws: Vec<(&NginxRoute, String)> = nginx
        .routes
        .iter()
        .filter_map(|r| intent(r).map(|why| (r, why)))
        .collect();
    let mut out = Vec::new();
    if ws.is_empty() {
        out.extend(no_websocket_route(ev));
        return out;
    }
    let mut map_planned = false;
    for (route, why) in &ws {
        let mut plan = HeaderPlan::new(ev, route, &mut map_planned);
        out.extend(upgrade_header(ev, route, why, &mut plan));
        out.extend(connection_header(ev, route, why, &mut plan));
        let header_edits = plan.edits();
        for f in out
            .iter_mut()
            .filter(|f| f.edits.is_empty() && plan.claims(f))
        {
            f.edits.clone_from(&header_edits);
        }
        out.extend(http_version(ev, route, why));
    }
    out.extend(reload_drain(ev));
    out.extend(connection_budget(ev, ws.len()));
    out
}

/// The idle timer of every WebSocket route: `proxy_read_timeout`, 60 s by
/// default (kb), in effect where it is written or inherited.
pub(super) fn hops(ev: &ConfigEvidence) -> Vec<Hop> {
    let default_s = crate::kb::kb()
        .intermediary(NGINX)
        .and_then(|i| i.idle_timeout_default_s)
        .unwrap_or(60);
    ev.nginx
        .routes
        .iter()
        .filter(|r| intent(r).is_some())
        .filter_map(|route| {
            let (idle_ms, setting, span, is_default) = match &route.read_timeout {
                Some(s) => (s.value?, format!("proxy_read_timeout {}", s.raw), s.span.clone(), false),
                None => (
                    u64::from(default_s) * 1000,
                    format!("proxy_read_timeout {default_s}s (default)"),
                    route.block.clone(),
                    true,
                ),
            };
            let raise = match &route.read_timeout {
                Some(s) if !s.inherited => replace_line(ev, &s.span, "proxy_read_timeout 3600s;"),
                _ => Some(after_pass(route, vec!["proxy_read_timeout 3600s;".into()])),
            };
            Some(Hop {
                name: format!("nginx {}", route_name(route)),
                intermediary: NGINX.to_owned(),
                idle_ms: Some(idle_ms),
                lifetime_ms: None,
                setting,
                span: Some(span),
                is_default,
                raise: raise.into_iter().collect(),
                raise_text: format!(
                    "Raise proxy_read_timeout for {} (it re-arms on traffic in either direction of the tunnel), and keep a heartbeat well below it.",
                    route_name(route)
                ),
                notes: Vec::new(),
            })
        })
        .collect()
}

/// The edits that make `route` carry WebSockets: the findings the rules
/// would report were it taken for a WebSocket route, kept only for their
/// edits (the `map` block, both headers, HTTP/1.1).
fn websocket_edits(ev: &ConfigEvidence, route: &NginxRoute, why: &str) -> Vec<Edit> {
    let mut map_planned = false;
    let mut plan = HeaderPlan::new(ev, route, &mut map_planned);
    let mut edits: Vec<Edit> = upgrade_header(ev, route, why, &mut plan)
        .into_iter()
        .chain(connection_header(ev, route, why, &mut plan))
        .chain(http_version(ev, route, why))
        .flat_map(|f| f.edits)
        .collect();
    edits.extend(plan.edits());
    edits
}

fn no_websocket_route(ev: &ConfigEvidence) -> Option<ConfigFinding> {
    let first = ev.nginx.routes.first()?;
    let mut f = ConfigFinding::new(
        CauseId::UpgradeNotForwarded,
        Severity::Warning,
        0.4,
        format!(
            "No proxied location forwards WebSocket upgrades ({} proxy_pass block(s) checked)",
            ev.nginx.routes.len()
        ),
        Some(&first.block),
        NGINX,
    )
    .label("no Upgrade/Connection headers here or in any other location");
    for r in ev.nginx.routes.iter().take(5) {
        f = f.evidence(format!(
            "{} → {} ({})",
            route_name(r),
            r.proxy_pass.raw,
            r.proxy_pass.span.file_line()
        ));
    }
    f = f
        .evidence("nginx drops Upgrade and sends `Connection: close` upstream unless told otherwise")
        .fix(kb_fix(
            NGINX,
            "If WebSockets go through one of these locations, forward Upgrade and Connection there and speak HTTP/1.1 upstream.",
        ));
    match ev.nginx.routes.as_slice() {
        // The only proxied location is the only place WebSockets can go
        // through: `--fix` can say where without guessing.
        [only] => {
            let why = format!(
                "it is the only proxied location ({})",
                only.proxy_pass.span.file_line()
            );
            f.edits = websocket_edits(ev, only, &why);
            if !f.edits.is_empty() {
                f = f.evidence(format!(
                    "{} is the only proxied location: `lint --fix` adds the lines there",
                    route_name(only)
                ));
            }
        }
        routes => {
            let listed: Vec<String> = routes
                .iter()
                .map(|r| {
                    format!(
                        "  {} → {} ({})",
                        route_name(r),
                        r.proxy_pass.raw,
                        r.proxy_pass.span.file_line()
                    )
                })
                .collect();
            f.fix_note = Some(format!(
                "no diff for the WebSocket headers: {} proxied locations could carry WebSockets and none says it does:\n{}\nto choose, add `proxy_set_header Upgrade $http_upgrade;` under the proxy_pass of the location that carries them (or serve WebSockets under a path that names them, such as /ws/) and run `wsdoctor lint --fix` again: it completes that location (Connection, proxy_http_version 1.1, the map)",
                routes.len(),
                listed.join("\n")
            ));
        }
    }
    Some(f)
}

/// Which `proxy_set_header` lines a route needs added, built once per route
/// so the Upgrade and Connection findings share one edit.
struct HeaderPlan {
    file: String,
    pass_line: u32,
    /// Inherited headers that must be restated when this location gets its
    /// own `proxy_set_header` lines (otherwise they stop applying).
    restate: Vec<String>,
    add: Vec<String>,
    map_insert: Option<Edit>,
    connection_value: String,
    claimed: Vec<CauseId>,
}

impl HeaderPlan {
    fn new(ev: &ConfigEvidence, route: &NginxRoute, map_planned: &mut bool) -> HeaderPlan {
        let has_local = route.headers.iter().any(|h| !h.inherited);
        let restate = if has_local {
            Vec::new()
        } else {
            route.headers.iter().map(header_line).collect()
        };
        let good_map = ev.nginx.maps.iter().find(|m| map_is_good(m));
        let taken = ev
            .nginx
            .maps
            .iter()
            .any(|m| m.target == "$connection_upgrade");
        let (connection_value, map_insert) = match (good_map, &route.server) {
            (Some(m), _) => (m.target.clone(), None),
            (None, Some(server)) if !taken => {
                let insert = (!*map_planned).then(|| {
                    Edit::new(
                        &server.file,
                        server.line,
                        EditAction::InsertBefore,
                        vec![
                            "map $http_upgrade $connection_upgrade {".into(),
                            "    default upgrade;".into(),
                            "    ''      close;".into(),
                            "}".into(),
                        ],
                    )
                });
                *map_planned = true;
                ("$connection_upgrade".to_owned(), insert)
            }
            _ => ("upgrade".to_owned(), None),
        };
        HeaderPlan {
            file: route.proxy_pass.span.file.clone(),
            pass_line: route.proxy_pass.span.line,
            restate,
            add: Vec::new(),
            map_insert,
            connection_value,
            claimed: Vec::new(),
        }
    }

    fn need(&mut self, line: String, by: CauseId) {
        self.add.push(line);
        self.claimed.push(by);
    }

    fn claims(&self, f: &ConfigFinding) -> bool {
        self.claimed.contains(&f.finding.id) && f.finding.intermediary.as_deref() == Some(NGINX)
    }

    fn edits(&self) -> Vec<Edit> {
        if self.add.is_empty() {
            return Vec::new();
        }
        let mut lines = self.restate.clone();
        lines.extend(self.add.iter().cloned());
        let mut edits = vec![Edit::new(
            &self.file,
            self.pass_line,
            EditAction::InsertAfter,
            lines,
        )];
        if self.add.iter().any(|l| l.contains("$connection_upgrade")) {
            edits.extend(self.map_insert.clone());
        }
        edits
    }
}

fn map_is_good(m: &NginxMap) -> bool {
    m.source == "$http_upgrade"
        && m.get("default")
            .is_some_and(|v| v.eq_ignore_ascii_case("upgrade"))
}

fn upgrade_header(
    ev: &ConfigEvidence,
    route: &NginxRoute,
    why: &str,
    plan: &mut HeaderPlan,
) -> Option<ConfigFinding> {
    let name = route_name(route);
    let new = |title: String, span: &Span, confidence: f64| {
        ConfigFinding::new(
            CauseId::UpgradeNotForwarded,
            Severity::Error,
            confidence,
            title,
            Some(span),
            NGINX,
        )
        .evidence(format!("{name} is taken to carry WebSockets: {why}"))
    };
    let upgrade_fix = || {
        fix(
            NGINX,
            "Forward the client's Upgrade header: `proxy_set_header Upgrade $http_upgrade;` (Upgrade is hop-by-hop, so nginx drops it otherwise).",
        )
    };
    if let Some(h) = route
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
    {
        let v = h.value.trim();
        if v == "$http_upgrade" || v.eq_ignore_ascii_case("websocket") {
            return None;
        }
        if v.starts_with('$') && is_typo(v, "$http_upgrade") {
            return Some(
                new(
                    format!("{name} forwards Upgrade from `{v}`, a misspelt variable: the header is always empty"),
                    &h.value_span,
                    0.9,
                )
                .label("did you mean `$http_upgrade`?")
                .fix(upgrade_fix())
                .edit(replace_line_with(ev, route, h, "Upgrade", "$http_upgrade")),
            );
        }
        if v.is_empty() {
            return Some(
                new(
                    format!("{name} sets Upgrade to an empty value, which removes it"),
                    &h.value_span,
                    0.9,
                )
                .label("an empty value drops the header")
                .fix(upgrade_fix())
                .edit(replace_line_with(ev, route, h, "Upgrade", "$http_upgrade")),
            );
        }
        return None;
    }
    if let Some(h) = route.headers.iter().find(|h| is_typo(&h.name, "upgrade")) {
        return Some(
            new(
                format!(
                    "{name} sets a header `{}`, not Upgrade: the upgrade is not forwarded",
                    h.name
                ),
                &h.name_span,
                0.9,
            )
            .label("did you mean `Upgrade`?")
            .fix(upgrade_fix())
            .edit(replace_line_with(ev, route, h, "Upgrade", &h.value)),
        );
    }
    plan.need(
        "proxy_set_header Upgrade $http_upgrade;".into(),
        CauseId::UpgradeNotForwarded,
    );
    if let Some(lost) = route
        .shadowed_headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
    {
        let local = route.headers.iter().find(|h| !h.inherited).unwrap_or(lost);
        return Some(
            new(
                format!("{name} loses the Upgrade header set at {}: its own proxy_set_header lines replace the inherited ones", lost.span.file_line()),
                &local.span,
                0.95,
            )
            .label("this proxy_set_header stops every outer one from applying here")
            .evidence(format!("Upgrade is set at {}, outside this block", lost.span))
            .evidence("nginx inherits proxy_set_header from an outer level only when a level has none of its own")
            .fix(upgrade_fix()),
        );
    }
    Some(
        new(
            format!("{name} does not forward the Upgrade header"),
            &route.block,
            0.9,
        )
        .label("no `proxy_set_header Upgrade` applies in this block")
        .fix(upgrade_fix()),
    )
}

fn connection_header(
    ev: &ConfigEvidence,
    route: &NginxRoute,
    why: &str,
    plan: &mut HeaderPlan,
) -> Option<ConfigFinding> {
    let name = route_name(route);
    let value = plan.connection_value.clone();
    let new = |title: String, span: &Span, confidence: f64| {
        ConfigFinding::new(
            CauseId::UpgradeNotForwarded,
            Severity::Error,
            confidence,
            title,
            Some(span),
            NGINX,
        )
        .evidence(format!("{name} is taken to carry WebSockets: {why}"))
        .fix(fix(
            NGINX,
            format!("Send `Connection: upgrade` upstream for upgrade requests: `proxy_set_header Connection {value};`."),
        ))
    };
    let Some(h) = route
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("connection"))
    else {
        if let Some(h) = route
            .headers
            .iter()
            .find(|h| is_typo(&h.name, "connection"))
        {
            return Some(
                new(
                    format!("{name} sets a header `{}`, not Connection", h.name),
                    &h.name_span,
                    0.9,
                )
                .label("did you mean `Connection`?")
                .edit(replace_line_with(ev, route, h, "Connection", &h.value)),
            );
        }
        plan.need(
            format!("proxy_set_header Connection {value};"),
            CauseId::UpgradeNotForwarded,
        );
        let span = route
            .headers
            .iter()
            .find(|h| !h.inherited)
            .map_or(&route.block, |h| &h.span);
        return Some(
            new(
                format!("{name} does not set Connection: nginx sends `Connection: close` upstream, so the backend never sees an upgrade"),
                span,
                0.9,
            )
            .label("no `proxy_set_header Connection` applies in this block"),
        );
    };
    let v = h.value.trim();
    if v.eq_ignore_ascii_case("upgrade") || v == "$http_connection" {
        return None;
    }
    if v.starts_with('$') {
        if let Some(m) = ev.nginx.maps.iter().find(|m| m.target == v) {
            return map_problem(m, &name);
        }
        let known = ev.nginx.maps.iter().map(|m| m.target.as_str());
        let intended = known
            .chain(["$connection_upgrade"])
            .find(|t| is_typo(v, t))?;
        return Some(
            new(
                format!("{name} sends Connection from `{v}`, which no map defines"),
                &h.value_span,
                0.85,
            )
            .label(format!("did you mean `{intended}`?"))
            .edit(replace_line_with(ev, route, h, "Connection", intended)),
        );
    }
    let shown = if v.is_empty() { "\"\"" } else { v };
    Some(
        new(
            format!("{name} sends `Connection: {shown}` upstream instead of `upgrade`: the backend answers the WebSocket handshake as plain HTTP"),
            &h.value_span,
            0.95,
        )
        .label(if v.is_empty() {
            "an empty Connection (the keepalive idiom) removes the upgrade".to_owned()
        } else {
            format!("`{shown}` is not `upgrade`")
        })
        .evidence("`Connection \"\"` is right for plain keepalive upstreams, but a WebSocket location needs `upgrade` (or the $connection_upgrade map)")
        .edit(replace_line_with(ev, route, h, "Connection", &value)),
    )
}

fn map_problem(m: &NginxMap, name: &str) -> Option<ConfigFinding> {
    let base = |title: String, label: &str| {
        ConfigFinding::new(
            CauseId::UpgradeNotForwarded,
            Severity::Error,
            0.9,
            title,
            Some(&m.span),
            NGINX,
        )
        .label(label.to_owned())
        .evidence(format!("{name} sends Connection from {}", m.target))
        .fix(kb_fix(
            NGINX,
            "The map must read $http_upgrade and give `upgrade` by default (`''` → `close`).",
        ))
    };
    if m.source != "$http_upgrade" {
        let label = if is_typo(&m.source, "$http_upgrade") {
            "did you mean `$http_upgrade`?"
        } else {
            "this map does not read the client's Upgrade header"
        };
        return Some(base(
            format!(
                "The map behind {} reads `{}`, not $http_upgrade",
                m.target, m.source
            ),
            label,
        ));
    }
    match m.get("default") {
        Some(v) if v.eq_ignore_ascii_case("upgrade") => None,
        Some(v) => Some(base(
            format!(
                "The map behind {} gives `{v}` by default: upgrade requests get `Connection: {v}`",
                m.target
            ),
            "its `default` must be `upgrade`",
        )),
        None => Some(base(
            format!(
                "The map behind {} has no `default`: upgrade requests get an empty Connection",
                m.target
            ),
            "add `default upgrade;`",
        )),
    }
}

fn http_version(ev: &ConfigEvidence, route: &NginxRoute, why: &str) -> Option<ConfigFinding> {
    let name = route_name(route);
    let version_fix = || {
        fix(
            NGINX,
            "Speak HTTP/1.1 to the backend: `proxy_http_version 1.1;` (HTTP/1.0 has no Upgrade).",
        )
    };
    match &route.http_version {
        Some(s) => {
            let v = s.value.as_deref()?;
            if v == "1.1" || v == "2" || v == "2.0" {
                return None;
            }
            let edit = if s.inherited {
                Some(after_pass(route, vec!["proxy_http_version 1.1;".into()]))
            } else {
                replace_line(ev, &s.span, "proxy_http_version 1.1;")
            };
            Some(
                ConfigFinding::new(
                    CauseId::UpgradeNotForwarded,
                    Severity::Error,
                    0.95,
                    format!("{name} proxies with HTTP/{v}: an upgrade needs HTTP/1.1"),
                    Some(&s.span),
                    NGINX,
                )
                .label("WebSocket upgrades need HTTP/1.1")
                .evidence(format!("{name} is taken to carry WebSockets: {why}"))
                .fix(version_fix())
                .edit(edit),
            )
        }
        None => {
            let version = ev.nginx.version.as_deref().and_then(parse_version);
            if version.is_some_and(|v| v >= HTTP11_DEFAULT_SINCE) {
                return None;
            }
            let known = ev.nginx.version.as_deref().map_or_else(
                || "the nginx version is unknown (say it with --nginx-version)".to_owned(),
                |v| format!("nginx {v} (from --nginx-version)"),
            );
            Some(
                ConfigFinding::new(
                    CauseId::UpgradeNotForwarded,
                    Severity::Error,
                    if version.is_some() { 0.95 } else { 0.8 },
                    format!("{name} proxies with nginx's default HTTP/1.0, which cannot carry an upgrade (the default is 1.1 only since nginx 1.29.7)"),
                    Some(&route.proxy_pass.span),
                    NGINX,
                )
                .label("no proxy_http_version applies: HTTP/1.0 before nginx 1.29.7")
                .evidence(format!("{name} is taken to carry WebSockets: {why}"))
                .evidence(known)
                .fix(version_fix())
                .edit(Some(after_pass(route, vec!["proxy_http_version 1.1;".into()]))),
            )
        }
    }
}

/// `worker_shutdown_timeout`: how long old workers keep WebSockets after a reload.
fn reload_drain(ev: &ConfigEvidence) -> Option<ConfigFinding> {
    let s = ev.nginx.worker_shutdown_timeout.as_ref()?;
    Some(drain::reload_drain(ReloadDrain {
        ms: s.value?,
        span: &s.span,
        intermediary: NGINX,
        title: "Every nginx reload closes all WebSockets of the old workers".to_owned(),
        label: "old workers close their connections after",
        evidence: "a reload (config change, certificate renewal, ingress update) starts new workers; old ones keep upgraded connections only until worker_shutdown_timeout",
        client_fix: "Expect a disconnect at every reload: reconnect with exponential backoff and jitter so clients do not return all at once.",
        lengthen: Some((
            fix(NGINX, "Give old workers longer to drain, e.g. `worker_shutdown_timeout 240s;` (the ingress-nginx default)."),
            replace_line(ev, &s.span, "worker_shutdown_timeout 240s;"),
        )),
    }))
}

fn connection_budget(ev: &ConfigEvidence, ws_routes: usize) -> Option<ConfigFinding> {
    let s = ev.nginx.worker_connections.as_ref()?;
    let n = s.value?;
    if n >= 4096 {
        return None;
    }
    let mut f = ConfigFinding::new(
        CauseId::LoadLimit,
        Severity::Info,
        0.5,
        format!("worker_connections {n}: each worker holds at most {} WebSockets at once", n / 2),
        Some(&s.span),
        NGINX,
    )
    .label("each proxied WebSocket uses two connections (client and upstream)")
    .evidence(format!("{ws_routes} WebSocket location(s) found"))
    .evidence("past the limit nginx logs `worker_connections are not enough` and refuses new connections")
    .fix(fix(NGINX, "Raise worker_connections (and the open-files limit, worker_rlimit_nofile) to at least twice the WebSockets one worker should hold."));
    f.finding.measured.concurrency_limit = Some(n / 2);
    Some(f)
}

/// `1.29.7` → (1, 29, 7).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().trim_start_matches("nginx/").split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

/// An edit inserting `lines` right after the route's `proxy_pass`.
fn after_pass(route: &NginxRoute, lines: Vec<String>) -> Edit {
    let span = &route.proxy_pass.span;
    Edit::new(&span.file, span.line, EditAction::InsertAfter, lines)
}

/// Replaces the directive at `span` with `line`, when it is alone on its
/// line (a second directive on the same line would be lost otherwise).
pub(super) fn replace_line(ev: &ConfigEvidence, span: &Span, line: &str) -> Option<Edit> {
    let text = ev.source_line(span)?;
    let trimmed = text.trim();
    let alone = trimmed.ends_with(';')
        && trimmed.matches(';').count() == 1
        && !trimmed.contains('#')
        && usize::try_from(span.column).ok()? == text.len() - text.trim_start().len() + 1;
    alone.then(|| {
        Edit::new(
            &span.file,
            span.line,
            EditAction::Replace,
            vec![line.to_owned()],
        )
    })
}

fn replace_line_with(
    ev: &ConfigEvidence,
    route: &NginxRoute,
    h: &HeaderSetting,
    name: &str,
    value: &str,
) -> Option<Edit> {
    // An inherited header is fixed where this route is, not in the outer
    // block (which other locations share).
    let fixed = HeaderSetting {
        name: name.to_owned(),
        value: value.to_owned(),
        ..h.clone()
    };
    if h.inherited {
        return Some(after_pass(route, vec![header_line(&fixed)]));
    }
    replace_line(ev, &h.span, &header_line(&fixed))
}

/// `proxy_set_header Name value;` with nginx quoting where needed.
fn header_line(h: &HeaderSetting) -> String {
    format!("proxy_set_header {} {};", quote(&h.name), quote(&h.value))
}

fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '\'' | '#' | '\\'));
    if plain {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

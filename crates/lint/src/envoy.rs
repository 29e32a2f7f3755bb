//! Envoy (YAML or JSON; bootstrap, LDS or a config dump): every HTTP
//! connection manager (HCM), wherever it sits, with its routes.
//!
//! What matters to WebSockets (kb `envoy`, from
//! `http_connection_manager.proto` and the upgrades docs):
//! * `upgrade_configs` with `upgrade_type: websocket` on the HCM or the
//!   route; without it Envoy does not forward upgrades;
//! * `stream_idle_timeout` (default 5 min), overridden per route by the
//!   route action's `idle_timeout`: the idle timer of an upgraded stream;
//! * the route action's `timeout` (default 15 s): the whole stream on older
//!   versions, the handshake only since envoy PR #41075;
//! * `common_http_protocol_options.max_stream_duration` /
//!   `max_connection_duration`: lifetime caps when set. (Its `idle_timeout`
//!   only closes connections without streams, so it never ends an open
//!   WebSocket.)

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, HopConfig, HopTimer, TimerRole, UpgradeSetting, ValueStyle,
};

use crate::doc::{self, Doc};
use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::source::ReadError;
use crate::yaml::Node;

/// Keys that only an HTTP connection manager has.
fn is_hcm(node: &Node) -> bool {
    node.get("route_config").is_some()
        || node.get("rds").is_some()
        || (node.get("http_filters").is_some() && node.get("stat_prefix").is_some())
}

/// An HCM found in the tree: its mapping, the key that holds it, and the
/// listener it belongs to.
struct Hcm<'a> {
    node: &'a Node,
    key: Option<&'a Node>,
    listener: String,
}

/// Finds every HCM below `node` (depth is bounded by the YAML budget).
fn find<'a>(node: &'a Node, key: Option<&'a Node>, listener: &str, out: &mut Vec<Hcm<'a>>) {
    if is_hcm(node) {
        out.push(Hcm {
            node,
            key,
            listener: listener.to_owned(),
        });
        return;
    }
    let listener = match (node.get_str("name"), node.get("filter_chains")) {
        (Some(name), Some(_)) => name.to_owned(),
        _ => listener.to_owned(),
    };
    for (k, v) in node.entries() {
        find(v, Some(k), &listener, out);
    }
    for item in node.items() {
        find(item, None, &listener, out);
    }
}

/// True when an `upgrade_configs` list enables WebSocket; the node of its
/// `upgrade_type` when it does.
fn websocket_upgrade(list: Option<&Node>) -> Option<&Node> {
    list?.items().iter().find_map(|u| {
        let t = u.get("upgrade_type")?;
        let enabled = u.get_str("enabled").is_none_or(|e| e != "false");
        (t.str()?.eq_ignore_ascii_case("websocket") && enabled).then_some(t)
    })
}

/// Reads one Envoy file.
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let Some(doc) = doc::read(loader, path, ConfigKind::Envoy)? else {
        return Ok(());
    };
    let mut hcms = Vec::new();
    for d in &doc.docs {
        find(d, None, "", &mut hcms);
    }
    let mut hops = Vec::new();
    for hcm in &hcms {
        hops.extend(hcm_hops(loader, &doc, hcm));
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

/// A route of an HCM that forwards (has a `route` action).
struct Route<'a> {
    /// The `route:` key and its action mapping.
    key: &'a Node,
    action: &'a Node,
    /// What it matches (`prefix /ws`), and the node to point at.
    matcher: String,
    match_node: &'a Node,
    websocket: Option<String>,
}

fn routes<'a>(hcm: &'a Node) -> Vec<Route<'a>> {
    let mut out = Vec::new();
    let hosts = hcm
        .path(&["route_config", "virtual_hosts"])
        .map_or(&[][..], Node::items);
    for vh in hosts {
        for r in vh.get("routes").map_or(&[][..], Node::items) {
            let Some((key, action)) = r.entry("route") else {
                continue;
            };
            let m = r.get("match");
            let (matcher, match_node) = ["prefix", "path", "path_separated_prefix"]
                .iter()
                .find_map(|k| {
                    m?.entry(k)
                        .map(|(_, v)| (format!("{k} {}", v.str().unwrap_or("?")), v))
                })
                .or_else(|| {
                    let re = m?.path(&["safe_regex", "regex"])?;
                    Some((format!("regex {}", re.str().unwrap_or("?")), re))
                })
                .unwrap_or_else(|| ("(any)".to_owned(), key));
            let cluster = action.get_str("cluster").unwrap_or_default();
            let websocket = if websocket_upgrade(action.get("upgrade_configs")).is_some() {
                Some("the route enables upgrade_configs websocket".to_owned())
            } else if names_websocket(match_node.str().unwrap_or_default()) {
                Some(format!("its match `{matcher}` names a WebSocket endpoint"))
            } else if names_websocket(cluster) {
                Some(format!("its cluster `{cluster}` names a WebSocket backend"))
            } else {
                None
            };
            out.push(Route {
                key,
                action,
                matcher,
                match_node,
                websocket,
            });
        }
    }
    out
}

fn hcm_hops(loader: &mut Loader, doc: &Doc, hcm: &Hcm<'_>) -> Vec<HopConfig> {
    let n = hcm.node;
    let listener = if hcm.listener.is_empty() {
        n.get_str("stat_prefix").unwrap_or("?").to_owned()
    } else {
        hcm.listener.clone()
    };
    let anchor = hcm.key.unwrap_or(n);
    let hcm_upgrade = websocket_upgrade(n.get("upgrade_configs"));
    let stream_idle = n.get("stream_idle_timeout");
    let mut lifetimes: Vec<HopTimer> = Vec::new();
    for key in ["max_stream_duration", "max_connection_duration"] {
        if let Some(v) = n.path(&["common_http_protocol_options", key]) {
            lifetimes.push(doc::timer(
                loader,
                doc,
                &format!("common_http_protocol_options.{key}"),
                TimerRole::Lifetime,
                ValueStyle::SecondsSuffix,
                Some(v),
                doc::duration_ms,
                None,
            ));
        }
    }
    let all = routes(n);
    let chosen: Vec<&Route<'_>> = if all.iter().any(|r| r.websocket.is_some()) {
        all.iter().filter(|r| r.websocket.is_some()).collect()
    } else {
        all.iter().take(1).collect()
    };
    let hcm_insert = |lines: Vec<String>| hcm.key.and_then(|k| doc::insert_into(doc, k, n, lines));
    if chosen.is_empty() {
        // Routes come from RDS (or there are none): the HCM's own timers.
        let mut timers = vec![doc::timer(
            loader,
            doc,
            "stream_idle_timeout",
            TimerRole::Idle,
            ValueStyle::SecondsSuffix,
            stream_idle,
            doc::duration_ms,
            hcm_insert(vec!["stream_idle_timeout: {value}".to_owned()]),
        )];
        timers.extend(lifetimes);
        return vec![HopConfig {
            product: "envoy".to_owned(),
            name: format!("Envoy listener {listener}"),
            span: doc.span(anchor),
            source: ConfigKind::Envoy,
            websocket: None,
            timers,
            upgrade: Some(upgrade(doc, hcm, hcm_upgrade, None)),
            notes: vec![
                "its routes are not in this file (RDS): route timeouts were not checked".to_owned(),
            ],
        }];
    }
    let mut out = Vec::new();
    for r in chosen {
        let route_insert =
            |line: &str| doc::insert_into(doc, r.key, r.action, vec![line.to_owned()]);
        let idle = match r.action.get("idle_timeout") {
            Some(v) => doc::timer(
                loader,
                doc,
                "idle_timeout",
                TimerRole::Idle,
                ValueStyle::SecondsSuffix,
                Some(v),
                doc::duration_ms,
                None,
            ),
            None => {
                let mut t = doc::timer(
                    loader,
                    doc,
                    "stream_idle_timeout",
                    TimerRole::Idle,
                    ValueStyle::SecondsSuffix,
                    stream_idle,
                    doc::duration_ms,
                    route_insert("idle_timeout: {value}"),
                );
                // Set on the HCM for every route: fixed on this route.
                if let Some(s) = &mut t.setting {
                    s.inherited = true;
                }
                t
            }
        };
        let request = doc::timer(
            loader,
            doc,
            "timeout",
            TimerRole::Request,
            ValueStyle::SecondsSuffix,
            r.action.get("timeout"),
            doc::duration_ms,
            route_insert("timeout: {value}"),
        );
        let mut timers = vec![idle, request];
        timers.extend(lifetimes.iter().cloned());
        let route_upgrade = websocket_upgrade(r.action.get("upgrade_configs"));
        out.push(HopConfig {
            product: "envoy".to_owned(),
            name: format!("Envoy listener {listener}, route {}", r.matcher),
            span: doc.span(r.match_node),
            source: ConfigKind::Envoy,
            websocket: r.websocket.clone(),
            timers,
            upgrade: Some(upgrade(doc, hcm, hcm_upgrade.or(route_upgrade), Some(r))),
            notes: Vec::new(),
        });
    }
    out
}

fn upgrade(
    doc: &Doc,
    hcm: &Hcm<'_>,
    enabled_by: Option<&Node>,
    route: Option<&Route<'_>>,
) -> UpgradeSetting {
    if let Some(t) = enabled_by {
        return UpgradeSetting {
            enabled: true,
            what: "upgrade_configs websocket".to_owned(),
            span: doc.span(t),
            fix: None,
        };
    }
    let lines = vec![
        "upgrade_configs:".to_owned(),
        "- upgrade_type: websocket".to_owned(),
    ];
    let anchor = route.map_or(hcm.key.unwrap_or(hcm.node), |r| r.match_node);
    UpgradeSetting {
        enabled: false,
        what: "upgrade_configs".to_owned(),
        span: doc.span(anchor),
        fix: hcm
            .key
            .and_then(|k| doc::insert_into(doc, k, hcm.node, lines)),
    }
}

//! Kubernetes objects of the platforms that cut WebSockets by a timer of
//! their own (kb entries `azure-agic`, `contour`, `istio`):
//!
//! * an Ingress of class `azure/application-gateway` (AGIC):
//!   `appgw.ingress.kubernetes.io/request-timeout`, default 30 s, a
//!   lifetime cap for WebSockets;
//! * Contour `HTTPProxy` routes with `enableWebsockets: true`:
//!   `timeoutPolicy.response` (Envoy's route timeout, 15 s unless set; a
//!   lifetime cap) and `timeoutPolicy.idle`;
//! * GKE Gateway `GCPBackendPolicy`: `spec.default.timeoutSec` (30 s
//!   unless set), the backend service timeout, a lifetime cap;
//! * Istio `DestinationRule`: `trafficPolicy.connectionPool.tcp.idleTimeout`
//!   (1 h by default, the idle timeout of TCP-proxied WebSockets).

use wsdoctor_evidence::config::{Edit, EditAction, HopConfig, TimerRole, ValueStyle};

use super::{hop, names_websocket, Object};
use crate::doc::{self, Doc};
use crate::loader::Loader;
use crate::yaml::Node;

/// AGIC's annotation prefix.
pub(super) const AGIC_PREFIX: &str = "appgw.ingress.kubernetes.io/";
const AGIC_REQUEST_TIMEOUT: &str = "appgw.ingress.kubernetes.io/request-timeout";

/// A Contour/Envoy duration (`15s`, `1h`, `1h30m`) in ms; `infinity` (or
/// `infinite`) disables the timeout, which the rules read as 0.
fn contour_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinity") || t.eq_ignore_ascii_case("infinite") {
        return Some(0);
    }
    crate::units::nginx_ms(t).or_else(|| doc::duration_ms(t))
}

/// The hop of an AGIC Ingress: the gateway's backend request timeout.
pub(super) fn agic_ingress(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> HopConfig {
    let mut h = hop(
        doc,
        o,
        "azure-agic",
        format!(
            "Ingress {} (Application Gateway Ingress Controller)",
            o.name
        ),
    );
    let insert = o.add_annotations(doc, &[format!("{AGIC_REQUEST_TIMEOUT}: \"{{value}}\"")]);
    h.timers.push(doc::timer(
        loader,
        doc,
        AGIC_REQUEST_TIMEOUT,
        TimerRole::Lifetime,
        ValueStyle::Seconds,
        o.annotation(AGIC_REQUEST_TIMEOUT),
        doc::seconds_ms,
        o.annotation(AGIC_REQUEST_TIMEOUT)
            .is_none()
            .then_some(insert)
            .flatten(),
    ));
    h.notes.push(
        "AGIC writes request-timeout into the gateway's backend HTTP settings, whose request timeout also bounds WebSocket sessions (kb: azure-agic.max_lifetime_note)"
            .to_owned(),
    );
    h
}

/// One hop per WebSocket route of an `HTTPProxy`.
pub(super) fn http_proxy(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> Vec<HopConfig> {
    let routes = o
        .node
        .path(&["spec", "routes"])
        .map_or(&[][..], Node::items);
    let mut out = Vec::new();
    for route in routes {
        let Some((enable_key, enable)) = route.entry("enableWebsockets") else {
            continue;
        };
        if enable.str() != Some("true") {
            continue;
        }
        let prefix = route
            .get("conditions")
            .map_or(&[][..], Node::items)
            .iter()
            .find_map(|c| c.get_str("prefix"))
            .unwrap_or("/");
        let mut h = hop(
            doc,
            o,
            "contour",
            format!("HTTPProxy {} route {prefix}", o.name),
        );
        h.span = doc.span(enable_key);
        h.websocket = Some(format!("its route {prefix} sets enableWebsockets: true"));
        let policy = route.entry("timeoutPolicy");
        // Missing keys go into timeoutPolicy, or a new timeoutPolicy goes
        // right after `enableWebsockets: true` (same indentation), unless
        // that line opens the list item (`- enableWebsockets: …`).
        let insert = |key: &str| -> Option<Edit> {
            match policy {
                Some((k, m)) => doc::insert_into(doc, k, m, vec![format!("{key}: {{value}}")]),
                None if !doc.line(enable_key.line).trim_start().starts_with('-') => {
                    Some(Edit::new(
                        &doc.file,
                        enable_key.line,
                        EditAction::InsertAfter,
                        vec!["timeoutPolicy:".to_owned(), format!("  {key}: {{value}}")],
                    ))
                }
                None => None,
            }
        };
        for (key, role) in [("response", TimerRole::Lifetime), ("idle", TimerRole::Idle)] {
            let node = policy.and_then(|(_, m)| m.get(key));
            h.timers.push(doc::timer(
                loader,
                doc,
                &format!("timeoutPolicy.{key}"),
                role,
                ValueStyle::SecondsSuffix,
                node,
                contour_ms,
                node.is_none().then(|| insert(key)).flatten(),
            ));
        }
        // Both inserted into one new timeoutPolicy would open it twice:
        // the idle timer then gets no insert of its own.
        if policy.is_none() {
            if let Some(t) = h.timers.get_mut(1) {
                t.insert = None;
            }
        }
        h.notes.push("an HTTPProxy route without timeoutPolicy.response gets Envoy's route timeout (15 s), which cuts WebSockets on Envoy versions that apply it to upgraded streams (kb: contour.max_lifetime_note)".to_owned());
        out.push(h);
    }
    out
}

/// A GKE Gateway `GCPBackendPolicy`: `spec.default.timeoutSec` is the
/// backend service timeout, a lifetime cap for WebSockets (kb
/// `gcp-external-alb.gke_gateway_note`).
pub(super) fn gcp_backend_policy(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> HopConfig {
    let target = o
        .node
        .path(&["spec", "targetRef", "name"])
        .and_then(Node::str)
        .unwrap_or("?");
    let mut h = hop(
        doc,
        o,
        "gcp-external-alb",
        format!(
            "GCPBackendPolicy {} (GKE Gateway backend service of {target})",
            o.name
        ),
    );
    let default = o.node.path(&["spec"]).and_then(|s| s.entry("default"));
    let insert = default
        .and_then(|(k, m)| doc::insert_into(doc, k, m, vec!["timeoutSec: {value}".to_owned()]));
    let written = default.and_then(|(_, m)| m.get("timeoutSec"));
    h.timers.push(doc::timer(
        loader,
        doc,
        "spec.default.timeoutSec",
        TimerRole::Lifetime,
        ValueStyle::Seconds,
        written,
        doc::seconds_ms,
        written.is_none().then_some(insert).flatten(),
    ));
    h.websocket = if names_websocket(target) {
        Some(format!("its target Service `{target}` names WebSockets"))
    } else {
        names_websocket(&o.name).then(|| format!("its name `{}` names WebSockets", o.name))
    };
    h
}

/// An Istio `DestinationRule` that sets the TCP idle timeout.
pub(super) fn destination_rule(
    loader: &mut Loader,
    doc: &Doc,
    o: &Object<'_>,
) -> Option<HopConfig> {
    let policy = o.node.path(&["spec", "trafficPolicy"])?;
    let tcp = policy.path(&["connectionPool", "tcp"])?;
    let idle = tcp.get("idleTimeout")?;
    let host = o
        .node
        .path(&["spec", "host"])
        .and_then(Node::str)
        .unwrap_or("?");
    let mut h = hop(
        doc,
        o,
        "istio",
        format!("DestinationRule {} (host {host})", o.name),
    );
    h.timers.push(doc::timer(
        loader,
        doc,
        "trafficPolicy.connectionPool.tcp.idleTimeout",
        TimerRole::Idle,
        ValueStyle::SecondsSuffix,
        Some(idle),
        contour_ms,
        None,
    ));
    h.websocket = if names_websocket(host) {
        Some(format!("its host `{host}` names a WebSocket service"))
    } else {
        names_websocket(&o.name).then(|| format!("its name `{}` names WebSockets", o.name))
    };
    h.notes.push("connectionPool.tcp.idleTimeout closes TCP-proxied connections (WebSockets on ports Istio treats as TCP) after this much silence; default 1 h (kb: istio.idle_timeout_note)".to_owned());
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contour_durations() {
        assert_eq!(contour_ms("15s"), Some(15_000));
        assert_eq!(contour_ms("1h"), Some(3_600_000));
        assert_eq!(contour_ms("1h30m"), Some(5_400_000));
        assert_eq!(contour_ms("infinity"), Some(0));
        assert_eq!(contour_ms("soon"), None);
    }
}

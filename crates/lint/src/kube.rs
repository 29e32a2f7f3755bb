//! Kubernetes manifests: what the Ingress controllers and cloud load
//! balancers in front of a cluster are told about timeouts and upgrades.
//!
//! * ingress-nginx: `nginx.ingress.kubernetes.io/proxy-read-timeout`
//!   (seconds; ConfigMap `proxy-read-timeout` as the controller default);
//! * NGINX Inc's controller: `nginx.org/proxy-read-timeout` and
//!   `nginx.org/websocket-services` (without it, no upgrade is forwarded);
//! * AWS Load Balancer Controller: `alb.ingress.kubernetes.io/load-balancer-attributes`
//!   (`idle_timeout.timeout_seconds=…`), Service annotations for NLB
//!   listeners (`…listener-attributes.TCP-<port>: tcp.idle_timeout.seconds=…`)
//!   and Classic ELBs (`…connection-idle-timeout`);
//! * GKE: `BackendConfig` `spec.timeoutSec`, a lifetime cap for WebSockets;
//! * AGIC, Contour `HTTPProxy` and Istio `DestinationRule`: see [`platforms`];
//! * pod shutdown (`terminationGracePeriodSeconds`, `preStop` sleeps): see
//!   [`pods`].
//!
//! An Ingress's class (`spec.ingressClassName` or the
//! `kubernetes.io/ingress.class` annotation) decides its controller; the
//! annotation prefixes only when it names none. Annotations written for
//! another controller are ignored by the one that serves it, and the hop
//! says so (nginx timeouts on a GCE Ingress change nothing).
//!
//! Files may hold many documents, and `kubectl get -o yaml` wraps objects
//! in a `List`; both are read.

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigEvidence, ConfigKind, Edit, HopConfig, HopTimer, TimerRole, TimerSetting, UpgradeSetting,
    ValueStyle,
};

use crate::doc::{self, Doc};
use crate::loader::Loader;
use crate::source::ReadError;
use crate::units;
use crate::yaml::Node;

const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io/";
const NGINX_INC_PREFIX: &str = "nginx.org/";
const ALB_PREFIX: &str = "alb.ingress.kubernetes.io/";
const AWS_SERVICE_PREFIX: &str = "service.beta.kubernetes.io/aws-load-balancer-";
const ALB_ATTRIBUTES: &str = "alb.ingress.kubernetes.io/load-balancer-attributes";
const ALB_IDLE: &str = "idle_timeout.timeout_seconds";
const NLB_IDLE: &str = "tcp.idle_timeout.seconds";
const NLB_LISTENER_ATTRIBUTES: &str =
    "service.beta.kubernetes.io/aws-load-balancer-listener-attributes.";
const CLB_IDLE: &str = "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout";

#[path = "kube_platforms.rs"]
mod platforms;

#[path = "kube_pods.rs"]
mod pods;

/// Words in a path or service name that say "WebSocket here".
pub(crate) use wsdoctor_evidence::config::WEBSOCKET_WORDS as WS_WORDS;

/// Why `text` (a path, a service name) names a WebSocket endpoint.
pub(crate) fn names_websocket(text: &str) -> bool {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.')
        .any(|w| WS_WORDS.contains(&w))
}

/// True when the text looks like a Kubernetes manifest, in YAML or in
/// JSON (`kubectl get -o json`).
pub(crate) fn looks_like(text: &str) -> bool {
    let has = |key: &str| {
        let quoted = format!("\"{key}\"");
        text.lines().any(|l| {
            let l = l.trim_start().trim_start_matches(['{', '[', ' ']);
            l.starts_with(&format!("{key}:")) || l.starts_with(&quoted)
        })
    };
    has("apiVersion") && has("kind")
}

/// One object of a manifest.
struct Object<'a> {
    node: &'a Node,
    kind: &'a str,
    name: String,
    name_node: &'a Node,
    /// `metadata:` key and its mapping.
    metadata: Option<(&'a Node, &'a Node)>,
    /// `annotations:` key and its mapping.
    annotations: Option<(&'a Node, &'a Node)>,
}

impl<'a> Object<'a> {
    fn of(node: &'a Node) -> Option<Object<'a>> {
        let kind_node = node.get("kind")?;
        let kind = kind_node.str()?;
        let metadata = node.entry("metadata");
        let meta = metadata.map(|(_, m)| m);
        let name_node = meta.and_then(|m| m.get("name")).unwrap_or(kind_node);
        let name = name_node.str().unwrap_or("?");
        let name = match meta.and_then(|m| m.get_str("namespace")) {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        Some(Object {
            node,
            kind,
            name,
            name_node,
            metadata,
            annotations: meta.and_then(|m| m.entry("annotations")),
        })
    }

    fn annotation(&self, key: &str) -> Option<&'a Node> {
        self.annotations.and_then(|(_, a)| a.get(key))
    }

    fn annotation_keys(&self) -> impl Iterator<Item = (&'a Node, &'a Node)> + '_ {
        self.annotations
            .into_iter()
            .flat_map(|(_, a)| a.entries().iter().map(|(k, v)| (k, v)))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.annotation_keys()
            .any(|(k, _)| k.str().is_some_and(|k| k.starts_with(prefix)))
    }

    /// An edit adding annotation lines (`{value}` placeholders kept):
    /// into `annotations:`, or a new `annotations:` under `metadata:`.
    fn add_annotations(&self, doc: &Doc, lines: &[String]) -> Option<Edit> {
        match (self.annotations, self.metadata) {
            (Some((key, map)), _) => doc::insert_into(doc, key, map, lines.to_vec()),
            (None, Some((key, map))) => {
                let mut block = vec!["annotations:".to_owned()];
                block.extend(lines.iter().map(|l| format!("  {l}")));
                doc::insert_into(doc, key, map, block)
            }
            _ => None,
        }
    }
}

/// Objects of every document, `List` items included.
fn objects(docs: &[Node]) -> Vec<Object<'_>> {
    let mut out = Vec::new();
    for d in docs {
        let is_list = d
            .get_str("kind")
            .is_some_and(|k| k == "List" || k.ends_with("List"));
        if is_list {
            out.extend(
                d.get("items")
                    .into_iter()
                    .flat_map(Node::items)
                    .filter_map(Object::of),
            );
        } else if let Some(o) = Object::of(d) {
            out.push(o);
        }
    }
    out
}

/// Which controller serves an Ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    IngressNginx,
    NginxInc,
    Alb,
    Gce,
    Agic,
}

impl Controller {
    /// The annotation prefix this controller reads.
    fn prefix(self) -> &'static str {
        match self {
            Controller::IngressNginx => NGINX_PREFIX,
            Controller::NginxInc => NGINX_INC_PREFIX,
            Controller::Alb => ALB_PREFIX,
            Controller::Gce => "cloud.google.com/",
            Controller::Agic => platforms::AGIC_PREFIX,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Controller::IngressNginx => "ingress-nginx",
            Controller::NginxInc => "NGINX Ingress Controller",
            Controller::Alb => "AWS Load Balancer Controller",
            Controller::Gce => "GKE Ingress",
            Controller::Agic => "Application Gateway Ingress Controller",
        }
    }
}

/// The Ingress class, lower-cased, when one is written.
fn ingress_class(o: &Object<'_>) -> Option<String> {
    o.node
        .path(&["spec", "ingressClassName"])
        .and_then(Node::str)
        .or_else(|| {
            o.annotation("kubernetes.io/ingress.class")
                .and_then(Node::str)
        })
        .map(str::to_ascii_lowercase)
}

/// The controller a class names (`nginx` is ingress-nginx's default class;
/// NGINX Inc's controller is told apart by its `nginx.org/` annotations).
fn controller_of_class(class: &str, o: &Object<'_>) -> Option<Controller> {
    if class == "alb" {
        Some(Controller::Alb)
    } else if class.starts_with("gce") {
        Some(Controller::Gce)
    } else if class == "azure/application-gateway" || class.starts_with("azure-application-gateway")
    {
        Some(Controller::Agic)
    } else if class.contains("nginx") {
        Some(
            if o.has_prefix(NGINX_INC_PREFIX) && !o.has_prefix(NGINX_PREFIX) {
                Controller::NginxInc
            } else {
                Controller::IngressNginx
            },
        )
    } else {
        None
    }
}

fn controller(o: &Object<'_>) -> Option<Controller> {
    if let Some(c) = ingress_class(o).and_then(|class| controller_of_class(&class, o)) {
        return Some(c);
    }
    if o.has_prefix(NGINX_INC_PREFIX) {
        return Some(Controller::NginxInc);
    }
    if o.has_prefix(ALB_PREFIX) {
        return Some(Controller::Alb);
    }
    if o.has_prefix(platforms::AGIC_PREFIX) {
        return Some(Controller::Agic);
    }
    if o.has_prefix(NGINX_PREFIX) {
        return Some(Controller::IngressNginx);
    }
    None
}

/// Annotations written for a controller other than the one that serves
/// the Ingress: each ignored, with its line.
fn foreign_annotations(doc: &Doc, o: &Object<'_>, serving: Controller) -> Vec<String> {
    let others = [
        Controller::IngressNginx,
        Controller::NginxInc,
        Controller::Alb,
        Controller::Agic,
    ];
    o.annotation_keys()
        .filter_map(|(k, _)| {
            let key = k.str()?;
            let owner = others
                .iter()
                .find(|c| **c != serving && key.starts_with(c.prefix()))?;
            Some(format!(
                "`{key}` (line {}) is written for {}; this Ingress is served by {}, which ignores it",
                doc.span(k).line,
                owner.name(),
                serving.name()
            ))
        })
        .collect()
}

/// A backend an Ingress routes to.
struct Backend<'a> {
    path: Option<&'a str>,
    service: &'a Node,
}

fn backends<'a>(o: &Object<'a>) -> Vec<Backend<'a>> {
    let service_of = |b: &'a Node| -> Option<&'a Node> {
        b.path(&["service", "name"])
            .or_else(|| b.get("serviceName"))
    };
    let mut out = Vec::new();
    let spec = o.node.get("spec");
    for rule in spec
        .and_then(|s| s.get("rules"))
        .map_or(&[][..], Node::items)
    {
        for p in rule.path(&["http", "paths"]).map_or(&[][..], Node::items) {
            if let Some(service) = p.get("backend").and_then(service_of) {
                out.push(Backend {
                    path: p.get_str("path"),
                    service,
                });
            }
        }
    }
    for key in ["defaultBackend", "backend"] {
        if let Some(service) = spec.and_then(|s| s.get(key)).and_then(service_of) {
            out.push(Backend {
                path: None,
                service,
            });
        }
    }
    out
}

fn websocket_intent(o: &Object<'_>, backends: &[Backend<'_>]) -> Option<String> {
    for b in backends {
        if let Some(p) = b.path.filter(|p| names_websocket(p)) {
            return Some(format!("its path `{p}` names a WebSocket endpoint"));
        }
        if let Some(s) = b.service.str().filter(|s| names_websocket(s)) {
            return Some(format!(
                "its backend service `{s}` names a WebSocket server"
            ));
        }
    }
    if o.annotation("nginx.org/websocket-services").is_some() {
        return Some("it lists nginx.org/websocket-services".to_owned());
    }
    if names_websocket(&o.name) {
        return Some(format!("its name `{}` names WebSockets", o.name));
    }
    None
}

/// Reads one manifest file.
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let Some(doc) = doc::read(loader, path, ConfigKind::Kubernetes)? else {
        return Ok(());
    };
    let objects = objects(&doc.docs);
    let mut hops = Vec::new();
    for o in &objects {
        match o.kind {
            "Ingress" => hops.extend(ingress(loader, &doc, o)),
            "Service" => hops.extend(service(loader, &doc, o)),
            "BackendConfig" => hops.push(backend_config(loader, &doc, o)),
            "ConfigMap" => hops.extend(controller_config_map(loader, &doc, o)),
            "HTTPProxy" => hops.extend(platforms::http_proxy(loader, &doc, o)),
            "DestinationRule" => hops.extend(platforms::destination_rule(loader, &doc, o)),
            "GCPBackendPolicy" => hops.push(platforms::gcp_backend_policy(loader, &doc, o)),
            "Deployment" | "StatefulSet" | "DaemonSet" => {
                hops.extend(pods::workload(loader, &doc, o));
            }
            _ => {}
        }
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

fn hop(doc: &Doc, o: &Object<'_>, product: &str, name: String) -> HopConfig {
    HopConfig {
        product: product.to_owned(),
        name,
        span: doc.span(o.name_node),
        source: ConfigKind::Kubernetes,
        websocket: None,
        timers: Vec::new(),
        upgrade: None,
        notes: Vec::new(),
    }
}

fn ingress(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> Option<HopConfig> {
    let controller = controller(o)?;
    let backends = backends(o);
    let websocket = websocket_intent(o, &backends);
    let mut h = match controller {
        Controller::IngressNginx => {
            let key = format!("{NGINX_PREFIX}proxy-read-timeout");
            let mut lines = vec![format!("{key}: \"{{value}}\"")];
            if o.annotation(&format!("{NGINX_PREFIX}proxy-send-timeout"))
                .is_none()
            {
                lines.push(format!("{NGINX_PREFIX}proxy-send-timeout: \"{{value}}\""));
            }
            let insert = o.add_annotations(doc, &lines);
            let mut h = hop(doc, o, "ingress-nginx", format!("Ingress {}", o.name));
            h.timers.push(doc::timer(
                loader,
                doc,
                &key,
                TimerRole::Idle,
                ValueStyle::Seconds,
                o.annotation(&key),
                doc::seconds_ms,
                insert,
            ));
            h
        }
        Controller::NginxInc => {
            let key = format!("{NGINX_INC_PREFIX}proxy-read-timeout");
            let insert = o.add_annotations(doc, &[format!("{key}: \"{{value}}\"")]);
            let mut h = hop(
                doc,
                o,
                "nginx",
                format!("Ingress {} (NGINX Ingress Controller)", o.name),
            );
            h.timers.push(doc::timer(
                loader,
                doc,
                &key,
                TimerRole::Idle,
                ValueStyle::SecondsSuffix,
                o.annotation(&key),
                units::nginx_ms,
                insert,
            ));
            h.upgrade = nginx_inc_upgrade(doc, o, &backends);
            h
        }
        Controller::Alb => {
            let mut h = hop(
                doc,
                o,
                "aws-alb",
                format!("ALB of Ingress {} (AWS Load Balancer Controller)", o.name),
            );
            let attrs = o.annotation(ALB_ATTRIBUTES);
            let insert = match attrs {
                None => {
                    o.add_annotations(doc, &[format!("{ALB_ATTRIBUTES}: {ALB_IDLE}={{value}}")])
                }
                Some(_) => None,
            };
            h.timers.push(attribute_timer(
                loader,
                doc,
                attrs,
                ALB_IDLE,
                TimerRole::Idle,
                insert,
            ));
            h
        }
        Controller::Gce => {
            let mut h = hop(
                doc,
                o,
                "gcp-external-alb",
                format!("GKE Ingress {} (Google Cloud load balancer)", o.name),
            );
            h.timers.push(HopTimer {
                key: "BackendConfig spec.timeoutSec".to_owned(),
                role: TimerRole::Lifetime,
                setting: None,
                style: ValueStyle::Seconds,
                insert: None,
            });
            h.notes.push(
                "no BackendConfig with spec.timeoutSec was found in these files for its services"
                    .to_owned(),
            );
            h
        }
        Controller::Agic => platforms::agic_ingress(loader, doc, o),
    };
    h.websocket = websocket;
    h.notes.extend(foreign_annotations(doc, o, controller));
    Some(h)
}

/// `nginx.org/websocket-services`: NGINX Inc's controller forwards upgrades
/// only to the services listed there.
fn nginx_inc_upgrade(
    doc: &Doc,
    o: &Object<'_>,
    backends: &[Backend<'_>],
) -> Option<UpgradeSetting> {
    let key = "nginx.org/websocket-services";
    if let Some(v) = o.annotation(key) {
        return Some(UpgradeSetting {
            enabled: true,
            what: format!("{key}: {}", v.str().unwrap_or_default()),
            span: doc.span(v),
            fix: None,
        });
    }
    let ws_services: Vec<&str> = backends
        .iter()
        .filter(|b| {
            b.path.is_some_and(names_websocket) || b.service.str().is_some_and(names_websocket)
        })
        .filter_map(|b| b.service.str())
        .collect();
    let services = if ws_services.is_empty() {
        backends.iter().filter_map(|b| b.service.str()).collect()
    } else {
        ws_services
    };
    let mut services: Vec<&str> = services;
    services.dedup();
    let fix = (!services.is_empty())
        .then(|| o.add_annotations(doc, &[format!("{key}: \"{}\"", services.join(","))]))
        .flatten();
    Some(UpgradeSetting {
        enabled: false,
        what: key.to_owned(),
        span: doc.span(o.name_node),
        fix,
    })
}

/// A timer inside an attribute list annotation (`a=1,idle_timeout.timeout_seconds=60`).
fn attribute_timer(
    loader: &mut Loader,
    doc: &Doc,
    list: Option<&Node>,
    key: &str,
    role: TimerRole,
    insert: Option<Edit>,
) -> HopTimer {
    let setting = list.and_then(|node| {
        let text = node.str()?;
        let needle = format!("{key}=");
        let start = text.find(&needle)? + needle.len();
        let raw: String = text[start..].chars().take_while(|c| *c != ',').collect();
        let raw = raw.trim().to_owned();
        let span = doc
            .span_inside(node, start, raw.chars().count())
            .unwrap_or_else(|| doc.span(node));
        let value_node = Node {
            value: crate::yaml::Value::Scalar(raw),
            line: node.line,
            column: node.column,
        };
        Some(doc::timer_setting(
            loader,
            doc,
            &value_node,
            span,
            doc::seconds_ms,
        ))
    });
    HopTimer {
        key: key.to_owned(),
        role,
        setting,
        style: ValueStyle::Seconds,
        insert,
    }
}

fn service(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> Option<HopConfig> {
    if !o.has_prefix(AWS_SERVICE_PREFIX) {
        return None;
    }
    let lb_type = o
        .annotation("service.beta.kubernetes.io/aws-load-balancer-type")
        .and_then(Node::str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let is_nlb = lb_type == "nlb" || lb_type == "external" || lb_type == "nlb-ip";
    let websocket =
        (names_websocket(&o.name)).then(|| format!("its name `{}` names WebSockets", o.name));
    if is_nlb {
        let mut h = hop(doc, o, "aws-nlb", format!("NLB of Service {}", o.name));
        let listener = o.annotation_keys().find(|(k, v)| {
            k.str()
                .is_some_and(|k| k.starts_with(NLB_LISTENER_ATTRIBUTES))
                && v.str().is_some_and(|v| v.contains(NLB_IDLE))
        });
        let port = o
            .node
            .path(&["spec", "ports"])
            .map_or(&[][..], Node::items)
            .iter()
            .find(|p| {
                p.get_str("protocol")
                    .is_none_or(|p| p.eq_ignore_ascii_case("TCP"))
            })
            .and_then(|p| p.get_str("port"));
        let insert = match (listener, port) {
            (None, Some(port)) => o.add_annotations(
                doc,
                &[format!(
                    "{NLB_LISTENER_ATTRIBUTES}TCP-{port}: {NLB_IDLE}={{value}}"
                )],
            ),
            _ => None,
        };
        h.timers.push(attribute_timer(
            loader,
            doc,
            listener.map(|(_, v)| v),
            NLB_IDLE,
            TimerRole::Idle,
            insert,
        ));
        if o.annotation("service.beta.kubernetes.io/aws-load-balancer-ssl-cert")
            .is_some()
        {
            h.notes.push("it has TLS listeners (aws-load-balancer-ssl-cert): their idle timeout is fixed at 350 s".to_owned());
        }
        h.websocket = websocket;
        return Some(h);
    }
    let mut h = hop(
        doc,
        o,
        "aws-clb",
        format!("Classic ELB of Service {}", o.name),
    );
    let insert = o.add_annotations(doc, &[format!("{CLB_IDLE}: \"{{value}}\"")]);
    h.timers.push(doc::timer(
        loader,
        doc,
        CLB_IDLE,
        TimerRole::Idle,
        ValueStyle::Seconds,
        o.annotation(CLB_IDLE),
        doc::seconds_ms,
        insert,
    ));
    h.websocket = websocket;
    Some(h)
}

fn backend_config(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> HopConfig {
    let mut h = hop(
        doc,
        o,
        "gcp-external-alb",
        format!("BackendConfig {} (Google Cloud backend service)", o.name),
    );
    let spec = o.node.entry("spec");
    let insert =
        spec.and_then(|(k, m)| doc::insert_into(doc, k, m, vec!["timeoutSec: {value}".to_owned()]));
    h.timers.push(doc::timer(
        loader,
        doc,
        "timeoutSec",
        TimerRole::Lifetime,
        ValueStyle::Seconds,
        spec.and_then(|(_, s)| s.get("timeoutSec")),
        doc::seconds_ms,
        insert,
    ));
    h.websocket =
        names_websocket(&o.name).then(|| format!("its name `{}` names WebSockets", o.name));
    h
}

/// The ingress-nginx controller's ConfigMap: defaults for every Ingress.
fn controller_config_map(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> Option<HopConfig> {
    let data = o.node.get("data")?;
    let is_controller = o.name.contains("ingress-nginx")
        || o.name.contains("nginx-configuration")
        || o.name.contains("nginx-ingress");
    if !is_controller {
        return None;
    }
    let read = data.get("proxy-read-timeout");
    // How long old workers keep connections after a reload (default 240s).
    let drain = data.get("worker-shutdown-timeout");
    if read.is_none() && drain.is_none() {
        return None;
    }
    let mut h = hop(
        doc,
        o,
        "ingress-nginx",
        format!("ingress-nginx controller ConfigMap {}", o.name),
    );
    if let Some(value) = read {
        h.timers.push(doc::timer(
            loader,
            doc,
            "proxy-read-timeout",
            TimerRole::Idle,
            ValueStyle::Seconds,
            Some(value),
            doc::seconds_ms,
            None,
        ));
        h.notes.push(
            "controller-wide default for Ingresses without the proxy-read-timeout annotation"
                .to_owned(),
        );
    }
    if let Some(value) = drain {
        h.timers.push(doc::timer(
            loader,
            doc,
            "worker-shutdown-timeout",
            TimerRole::Drain,
            ValueStyle::SecondsSuffix,
            Some(value),
            units::nginx_ms,
            None,
        ));
    }
    Some(h)
}

/// After every file is read: Ingresses without their own timeout take the
/// controller ConfigMap's (and the ConfigMap stops being a hop of its
/// own); GKE Ingresses are covered by the BackendConfigs when there are any.
pub(crate) fn finish(ev: &mut ConfigEvidence) {
    let is_map = |h: &HopConfig| h.name.starts_with("ingress-nginx controller ConfigMap");
    let default: Option<TimerSetting> = ev
        .hops
        .iter()
        .filter(|h| is_map(h))
        .find_map(|h| h.timer(TimerRole::Idle)?.setting.clone());
    let has_ingresses = ev
        .hops
        .iter()
        .any(|h| h.product == "ingress-nginx" && !is_map(h));
    if let (Some(default), true) = (default, has_ingresses) {
        for h in ev.hops.iter_mut().filter(|h| h.product == "ingress-nginx") {
            for t in h.timers.iter_mut().filter(|t| t.setting.is_none()) {
                t.setting = Some(default.clone().inherited());
            }
        }
        // The read timeout now lives on each Ingress; what is left on the
        // ConfigMap (the reload drain) stays a hop of its own.
        for h in ev.hops.iter_mut().filter(|h| is_map(h)) {
            h.timers.retain(|t| t.role != TimerRole::Idle);
            h.notes.clear();
        }
        ev.hops.retain(|h| !(is_map(h) && h.timers.is_empty()));
    }
    let has_backend_config = ev.hops.iter().any(|h| h.name.starts_with("BackendConfig "));
    if has_backend_config {
        ev.hops
            .retain(|h| !(h.product == "gcp-external-alb" && h.name.starts_with("GKE Ingress ")));
    }
}

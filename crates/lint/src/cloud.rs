//! Cloud load balancers described by CloudFormation templates (JSON or
//! YAML) and by what the AWS CLI and gcloud print (JSON).
//!
//! * CloudFormation `AWS::ElasticLoadBalancingV2::LoadBalancer` (type
//!   `application`, the default): `LoadBalancerAttributes` entry
//!   `idle_timeout.timeout_seconds` (default 60 s);
//!   `AWS::ElasticLoadBalancingV2::Listener` with `Protocol: TCP`:
//!   `ListenerAttributes` entry `tcp.idle_timeout.seconds` (default 350 s);
//!   `AWS::ElasticLoadBalancing::LoadBalancer` (Classic):
//!   `ConnectionSettings.IdleTimeout` (default 60 s);
//! * `aws elbv2 describe-load-balancer-attributes` /
//!   `describe-listener-attributes`: the same keys in an `Attributes` list;
//! * `gcloud compute backend-services describe|list --format=json`:
//!   `timeoutSec`, a lifetime cap for WebSockets (default 30 s).
//!
//! CLI output is a record of the live setting, not a file to edit: its
//! findings carry the command that changes it instead of a patch.

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, Edit, EditAction, HopConfig, HopTimer, ProblemKind, TimerRole, ValueStyle,
};

use crate::doc::{self, Doc};
use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::source::ReadError;
use crate::yaml::Node;

const ALB_IDLE: &str = "idle_timeout.timeout_seconds";
const NLB_IDLE: &str = "tcp.idle_timeout.seconds";

/// The `Value` node of the `{Key: key, Value: …}` entry in a list.
fn attribute<'a>(list: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    list?
        .items()
        .iter()
        .find(|a| a.get_str("Key") == Some(key))
        .and_then(|a| a.get("Value"))
}

/// The YAML tag written before a node (`!Ref`), if any.
fn tag(doc: &Doc, node: &Node) -> Option<String> {
    let line = doc.line(node.line);
    let start = usize::try_from(node.column).unwrap_or(1).saturating_sub(1);
    let before: String = line.chars().take(start).collect();
    let last = before.split_whitespace().last()?;
    last.starts_with('!').then(|| last.to_owned())
}

/// True when the value is computed by CloudFormation (`!Ref`, `Fn::…`).
fn is_intrinsic(doc: &Doc, node: &Node) -> bool {
    !matches!(node.value, crate::yaml::Value::Scalar(_)) || tag(doc, node).is_some()
}

/// `!Ref P` / `{"Ref": "P"}` to a template parameter: its `Default` node.
fn parameter_default<'a>(
    template: &'a Node,
    doc: &Doc,
    node: &'a Node,
) -> Option<(&'a Node, String)> {
    let name = match tag(doc, node).as_deref() {
        Some("!Ref") => node.str()?,
        Some(_) => return None,
        None => node.get_str("Ref")?,
    };
    let default = template.path(&["Parameters", name, "Default"])?;
    Some((default, name.to_owned()))
}

/// A timer read from a CloudFormation value: a `Ref` to a parameter reads
/// its `Default`; other intrinsics are reported as templated.
fn cfn_timer(
    loader: &mut Loader,
    doc: &Doc,
    template: &Node,
    key: &str,
    node: Option<&Node>,
    insert: Option<Edit>,
) -> HopTimer {
    let resolved = node
        .filter(|n| is_intrinsic(doc, n))
        .and_then(|n| parameter_default(template, doc, n));
    if let Some((default, _)) = resolved {
        // The parameter's Default is the value unless a stack overrides it.
        return doc::timer(
            loader,
            doc,
            key,
            TimerRole::Idle,
            ValueStyle::Seconds,
            Some(default),
            doc::seconds_ms,
            None,
        );
    }
    if let Some(n) = node.filter(|n| is_intrinsic(doc, n)) {
        loader.problem(
            ProblemKind::Templated,
            format!(
                "`{key}` is computed by CloudFormation (Ref, Fn::…); its value is unknown here"
            ),
            doc.span(n),
        );
        return HopTimer {
            key: key.to_owned(),
            role: TimerRole::Idle,
            setting: None,
            style: ValueStyle::Seconds,
            insert: None,
        };
    }
    doc::timer(
        loader,
        doc,
        key,
        TimerRole::Idle,
        ValueStyle::Seconds,
        node,
        doc::seconds_ms,
        insert,
    )
}

/// An edit adding a `- Key: …` entry to a block-style attribute list, or a
/// new list under `Properties:`.
fn add_attribute(
    doc: &Doc,
    props: Option<(&Node, &Node)>,
    list_key: &str,
    key: &str,
) -> Option<Edit> {
    let (props_key, props_map) = props?;
    let entry = vec![format!("- Key: {key}"), "  Value: \"{value}\"".to_owned()];
    match props_map.entry(list_key) {
        Some((k, list)) => {
            let first = list.items().first()?;
            let block = first.line > k.line && !doc.line(k.line).trim_end().ends_with('[');
            block.then(|| Edit::new(&doc.file, k.line, EditAction::InsertInto, entry))
        }
        None => {
            let mut lines = vec![format!("{list_key}:")];
            lines.extend(entry.iter().map(|l| format!("  {l}")));
            doc::insert_into(doc, props_key, props_map, lines)
        }
    }
}

/// Reads a CloudFormation template.
pub(crate) fn load_cloudformation(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let Some(doc) = doc::read(loader, path, ConfigKind::Cloudformation)? else {
        return Ok(());
    };
    let mut hops = Vec::new();
    for d in &doc.docs {
        for (name, res) in d.get("Resources").map_or(&[][..], Node::entries) {
            let Some(logical) = name.str() else { continue };
            let props = res.entry("Properties");
            let p = props.map(|(_, m)| m);
            let websocket =
                names_websocket(logical).then(|| format!("its name `{logical}` names WebSockets"));
            let hop = |product: &str, timer: HopTimer, notes: Vec<String>| HopConfig {
                product: product.to_owned(),
                name: format!("{logical} ({})", res.get_str("Type").unwrap_or_default()),
                span: doc.span(name),
                source: ConfigKind::Cloudformation,
                websocket: websocket.clone(),
                timers: vec![timer],
                upgrade: None,
                notes,
            };
            match res.get_str("Type").unwrap_or_default() {
                "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                    let kind = p.and_then(|p| p.get_str("Type")).unwrap_or("application");
                    if kind != "application" {
                        continue;
                    }
                    let list = p.and_then(|p| p.get("LoadBalancerAttributes"));
                    let value = attribute(list, ALB_IDLE);
                    let insert = value
                        .is_none()
                        .then(|| add_attribute(&doc, props, "LoadBalancerAttributes", ALB_IDLE))
                        .flatten();
                    let t = cfn_timer(loader, &doc, d, ALB_IDLE, value, insert);
                    let notes = value
                        .and_then(|v| parameter_default(d, &doc, v))
                        .map(|(_, p)| {
                            vec![format!(
                                "the value is parameter {p}'s Default (a stack may override it)"
                            )]
                        })
                        .unwrap_or_default();
                    hops.push(hop("aws-alb", t, notes));
                }
                "AWS::ElasticLoadBalancingV2::Listener" => {
                    let protocol = p
                        .and_then(|p| p.get_str("Protocol"))
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let tls = protocol == "TLS";
                    if protocol != "TCP" && protocol != "TCP_UDP" && !tls {
                        continue;
                    }
                    let list = p.and_then(|p| p.get("ListenerAttributes"));
                    let value = attribute(list, NLB_IDLE);
                    let insert = (value.is_none() && !tls)
                        .then(|| add_attribute(&doc, props, "ListenerAttributes", NLB_IDLE))
                        .flatten();
                    let t = cfn_timer(loader, &doc, d, NLB_IDLE, value, insert);
                    let notes = if tls {
                        vec!["a TLS listener: its idle timeout is fixed at 350 s and cannot be raised".to_owned()]
                    } else {
                        Vec::new()
                    };
                    hops.push(hop("aws-nlb", t, notes));
                }
                "AWS::ElasticLoadBalancing::LoadBalancer" => {
                    let value = p.and_then(|p| p.path(&["ConnectionSettings", "IdleTimeout"]));
                    let insert = match (value, props, p.and_then(|p| p.entry("ConnectionSettings")))
                    {
                        (None, Some((k, m)), None) => doc::insert_into(
                            &doc,
                            k,
                            m,
                            vec![
                                "ConnectionSettings:".to_owned(),
                                "  IdleTimeout: {value}".to_owned(),
                            ],
                        ),
                        (None, _, Some((k, m))) => {
                            doc::insert_into(&doc, k, m, vec!["IdleTimeout: {value}".to_owned()])
                        }
                        _ => None,
                    };
                    let t = cfn_timer(
                        loader,
                        &doc,
                        d,
                        "ConnectionSettings.IdleTimeout",
                        value,
                        insert,
                    );
                    hops.push(hop("aws-clb", t, Vec::new()));
                }
                _ => {}
            }
        }
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

/// Reads `aws elbv2 describe-…-attributes` output.
pub(crate) fn load_aws_cli(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let Some(doc) = doc::read(loader, path, ConfigKind::AwsCli)? else {
        return Ok(());
    };
    let mut hops = Vec::new();
    for d in &doc.docs {
        let list = d.get("Attributes");
        for (key, product, what) in [
            (
                ALB_IDLE,
                "aws-alb",
                "ALB (describe-load-balancer-attributes)",
            ),
            (
                NLB_IDLE,
                "aws-nlb",
                "NLB listener (describe-listener-attributes)",
            ),
        ] {
            let Some(value) = attribute(list, key) else {
                continue;
            };
            let t = doc::timer(
                loader,
                &doc,
                key,
                TimerRole::Idle,
                ValueStyle::Seconds,
                Some(value),
                doc::seconds_ms,
                None,
            );
            hops.push(HopConfig {
                product: product.to_owned(),
                name: what.to_owned(),
                span: doc.span(value),
                source: ConfigKind::AwsCli,
                websocket: None,
                timers: vec![t],
                upgrade: None,
                notes: vec![
                    "read from CLI output: change the live setting with the command in the fix"
                        .to_owned(),
                ],
            });
        }
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

/// Reads `gcloud compute backend-services describe|list --format=json`.
pub(crate) fn load_gcloud(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let Some(doc) = doc::read(loader, path, ConfigKind::Gcloud)? else {
        return Ok(());
    };
    let mut services: Vec<&Node> = Vec::new();
    for d in &doc.docs {
        if d.get("timeoutSec").is_some() || d.get_str("kind") == Some("compute#backendService") {
            services.push(d);
        }
        services.extend(d.items().iter().filter(|i| {
            i.get("timeoutSec").is_some() || i.get_str("kind") == Some("compute#backendService")
        }));
    }
    let mut hops = Vec::new();
    for s in services {
        let name = s.get_str("name").unwrap_or("?");
        let t = doc::timer(
            loader,
            &doc,
            "timeoutSec",
            TimerRole::Lifetime,
            ValueStyle::Seconds,
            s.get("timeoutSec"),
            doc::seconds_ms,
            None,
        );
        hops.push(HopConfig {
            product: "gcp-external-alb".to_owned(),
            name: format!("backend service {name} (gcloud)"),
            span: doc.span(s.get("name").unwrap_or(s)),
            source: ConfigKind::Gcloud,
            websocket: names_websocket(name).then(|| format!("its name `{name}` names WebSockets")),
            timers: vec![t],
            upgrade: None,
            notes: vec![
                "read from gcloud output: change the live setting with the command in the fix"
                    .to_owned(),
            ],
        });
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

//! Pod shutdown, where every rollout ends the WebSockets of the old pods:
//! a Deployment's (StatefulSet's, DaemonSet's) `terminationGracePeriodSeconds`
//! and its containers' `preStop` sleeps, read as drain timers so the rules
//! can set them against each other and against ingress-nginx's
//! `worker-shutdown-timeout`.
//!
//! Kubernetes starts the grace period before the preStop hook runs (the
//! hook counts against it; kubernetes/kubernetes#74160), and kills what is
//! left when it ends (default 30 s).

use wsdoctor_evidence::config::{HopConfig, HopTimer, TimerRole, ValueStyle};

use super::{hop, names_websocket, Object};
use crate::doc::{self, Doc};
use crate::loader::Loader;
use crate::yaml::Node;

/// The hop product of an application pod's shutdown.
pub(super) const POD: &str = "kubernetes-pod";
/// The hop product of the ingress-nginx controller's own pods.
pub(super) const NGINX_CONTROLLER_POD: &str = "ingress-nginx-controller-pod";
/// The grace period's key, as the rules look it up.
pub(super) const GRACE: &str = "terminationGracePeriodSeconds";

/// `sleep 30` inside a command string: the number's byte offset and text.
fn sleep_in(text: &str) -> Option<(usize, &str)> {
    let mut offset = 0;
    let tokens: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|w| {
            // split_whitespace loses offsets: find each word from where the
            // last one ended.
            let at = text[offset..].find(w).map_or(offset, |i| offset + i);
            offset = at + w.len();
            (at, w)
        })
        .collect();
    tokens.windows(2).find_map(|pair| {
        let (_, word) = pair[0];
        let (at, number) = pair[1];
        let number = number.trim_end_matches([';', '&', '|']);
        (word.ends_with("sleep")
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
            && !number.is_empty())
        .then_some((at, number))
    })
}

/// The preStop sleep of one container, as a timer with its exact place.
fn pre_stop_sleep(loader: &mut Loader, doc: &Doc, container: &Node) -> Option<HopTimer> {
    let pre_stop = container.path(&["lifecycle", "preStop"])?;
    let name = container.get_str("name").unwrap_or("?");
    let key = format!("preStop sleep ({name})");
    // Kubernetes 1.29+: `preStop: {sleep: {seconds: N}}`.
    if let Some(seconds) = pre_stop.path(&["sleep", "seconds"]) {
        return Some(doc::timer(
            loader,
            doc,
            &key,
            TimerRole::Drain,
            ValueStyle::Seconds,
            Some(seconds),
            doc::seconds_ms,
            None,
        ));
    }
    let command = pre_stop.path(&["exec", "command"])?.items();
    // `["sleep", "30"]`: the number is an item of its own.
    if let Some(number) = command
        .windows(2)
        .find(|w| w[0].str().is_some_and(|s| s.ends_with("sleep")))
        .map(|w| &w[1])
    {
        return Some(doc::timer(
            loader,
            doc,
            &key,
            TimerRole::Drain,
            ValueStyle::Seconds,
            Some(number),
            doc::seconds_ms,
            None,
        ));
    }
    // `["/bin/sh", "-c", "sleep 30 && nginx -s quit"]`: inside a string.
    command.iter().find_map(|item| {
        let text = item.str()?;
        let (at, number) = sleep_in(text)?;
        let span = doc
            .span_inside(item, at, number.chars().count())
            .unwrap_or_else(|| doc.span(item));
        let value = crate::yaml::Node {
            value: crate::yaml::Value::Scalar(number.to_owned()),
            line: item.line,
            column: item.column,
        };
        Some(HopTimer {
            key: key.clone(),
            role: TimerRole::Drain,
            setting: Some(doc::timer_setting(
                loader,
                doc,
                &value,
                span,
                doc::seconds_ms,
            )),
            style: ValueStyle::Seconds,
            insert: None,
        })
    })
}

/// The shutdown of a workload's pods, when there is something to judge: a
/// preStop sleep, or the ingress-nginx controller itself.
pub(super) fn workload(loader: &mut Loader, doc: &Doc, o: &Object<'_>) -> Option<HopConfig> {
    let (spec_key, spec) = o.node.path(&["spec", "template"])?.entry("spec")?;
    let containers = spec.get("containers").map_or(&[][..], Node::items);
    let is_controller = containers.iter().any(|c| {
        c.get_str("image")
            .is_some_and(|i| i.contains("ingress-nginx/controller"))
    });
    let sleeps: Vec<HopTimer> = containers
        .iter()
        .filter_map(|c| pre_stop_sleep(loader, doc, c))
        .collect();
    if sleeps.is_empty() && !is_controller {
        return None;
    }
    let product = if is_controller {
        NGINX_CONTROLLER_POD
    } else {
        POD
    };
    let mut h = hop(doc, o, product, format!("{} {}", o.kind, o.name));
    let insert = doc::insert_into(doc, spec_key, spec, vec![format!("{GRACE}: {{value}}")]);
    h.timers.push(doc::timer(
        loader,
        doc,
        GRACE,
        TimerRole::Drain,
        ValueStyle::Seconds,
        spec.get(GRACE),
        doc::seconds_ms,
        spec.get(GRACE).is_none().then_some(insert).flatten(),
    ));
    h.timers.extend(sleeps);
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get_str("name"))
        .collect();
    h.websocket = if names_websocket(&o.name) {
        Some(format!("its name `{}` names WebSockets", o.name))
    } else {
        names
            .iter()
            .find(|n| names_websocket(n))
            .map(|n| format!("its container `{n}` names WebSockets"))
    };
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_inside_commands() {
        assert_eq!(sleep_in("sleep 30"), Some((6, "30")));
        assert_eq!(sleep_in("sleep 5 && nginx -s quit"), Some((6, "5")));
        assert_eq!(sleep_in("/bin/sleep 15;"), Some((11, "15")));
        assert_eq!(sleep_in("echo sleep"), None);
        assert_eq!(sleep_in("sleep $T"), None);
    }
}

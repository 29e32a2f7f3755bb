//! `sticky-session-missing`: reconnects of one slot that landed on
//! different server instances.

use super::super::sticky::{sticky_finding, InstanceTrail};
use super::Window;
use crate::finding::{Finding, SourceKind};

pub(super) fn diagnose(w: &Window<'_>) -> Option<Finding> {
    let (e, when) = (w.e, &w.when);
    // Reconnects of one slot that moved between server instances.
    let mut trails: std::collections::BTreeMap<(&str, &str, u32), Vec<String>> =
        std::collections::BTreeMap::new();
    for d in e.drops.iter().filter(|d| d.opened) {
        if let Some(instance) = &d.instance {
            trails
                .entry((d.target.as_str(), d.arm.as_str(), d.slot))
                .or_default()
                .push(instance.clone());
        }
    }
    let trails: Vec<InstanceTrail> = trails
        .into_iter()
        .map(|((target, arm, slot), instances)| InstanceTrail {
            client: format!("{arm} #{slot} of {target}"),
            instances,
        })
        .collect();
    let mut f = sticky_finding(&trails, SourceKind::Flow)?;
    f.title = format!("{when}: {}", f.title);
    Some(f)
}

//! Close frames the server sent, one finding per code that names a cause.

use wsdoctor_evidence::watch::WatchDrop;
use wsdoctor_evidence::ConnectionEnd;

use super::{how, Window};
use crate::finding::{Finding, SourceKind};
use crate::rules::common::close_code_finding;

pub(super) fn diagnose(w: &Window<'_>) -> Vec<Finding> {
    let (when, single) = (&w.when, &w.single);
    let mut out = Vec::new();
    // Close frames from the server, by code.
    let mut codes: std::collections::BTreeMap<u16, Vec<&WatchDrop>> =
        std::collections::BTreeMap::new();
    for d in single {
        if let ConnectionEnd::CloseHandshake {
            code: Some(code),
            initiator: wsdoctor_evidence::Side::Remote,
            ..
        } = d.end
        {
            codes.entry(code).or_default().push(d);
        }
    }
    for (code, drops) in codes {
        out.extend(close_code_finding(
            code,
            drops.len(),
            format!(
                "{when}: the server closed {} connection(s) with {code}",
                drops.len()
            ),
            drops
                .iter()
                .map(|d| format!("{} #{} at {}: {}", d.arm.as_str(), d.slot, d.wall, how(d))),
            SourceKind::Flow,
        ));
    }
    out
}

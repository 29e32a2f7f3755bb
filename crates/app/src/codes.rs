//! Close codes (4000–4999) that application protocols document, with
//! their meaning and where it was read. The table lives here, next to the
//! protocol modules, and not in the diagnosis kb: the modules that speak a
//! protocol are the ones that know its codes, so adding a protocol stays
//! one file, and diagnosis and `explain` read the same statics (no parse
//! step, no second copy to drift).

use crate::{AppProtocol, Spec};

/// One documented close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCodeFact {
    /// The code.
    pub code: u16,
    /// The protocol's name for it (`ConnectionInitialisationTimeout`).
    pub name: &'static str,
    /// What it means, said plainly.
    pub meaning: &'static str,
    /// The contract cause id it maps to (`app-init-timeout`, `server-close`,
    /// `policy-close`, `server-error`, `protocol-error`).
    pub cause: &'static str,
    /// What to change, in the protocol's own words.
    pub fix: &'static str,
    /// Where it is documented (a URL).
    pub source: &'static str,
    /// When that source was read (YYYY-MM-DD).
    pub read: &'static str,
}

/// Every documented meaning of `code`, with the protocol that documents it.
pub fn close_code_facts(code: u16) -> Vec<(AppProtocol, &'static CloseCodeFact)> {
    AppProtocol::ALL
        .into_iter()
        .filter_map(AppProtocol::spec)
        .flat_map(|spec: &'static Spec| {
            spec.close_codes
                .iter()
                .filter(move |f| f.code == code)
                .map(move |f| (spec.protocol, f))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_graphql_transport_ws_code_is_documented() {
        for code in [4400, 4401, 4403, 4406, 4408, 4409, 4429, 4499, 4500] {
            let facts = close_code_facts(code);
            assert!(
                facts
                    .iter()
                    .any(|(p, _)| *p == AppProtocol::GraphqlTransportWs),
                "{code} is missing"
            );
        }
        let facts = close_code_facts(4408);
        assert_eq!(facts[0].1.cause, "app-init-timeout");
    }

    #[test]
    fn every_fact_has_a_source_and_a_date() {
        for p in AppProtocol::ALL {
            for f in p.spec().map(|s| s.close_codes).unwrap_or_default() {
                assert!(f.source.starts_with("https://"), "{}", f.code);
                assert_eq!(f.read.len(), 10, "{}", f.code);
                assert!((4000..=4999).contains(&f.code));
            }
        }
    }
}

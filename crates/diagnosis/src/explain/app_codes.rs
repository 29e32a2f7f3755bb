//! Close codes 4000–4999 that application protocols document
//! (graphql-transport-ws's 4408, …): the protocol modules of
//! `wsdoctor-app` hold the facts with their sources; this turns them into
//! an explanation. A code several protocols use gets one meaning per
//! protocol.

use super::{Explanation, Topic};

/// The explanation of `code` from the protocols that document it; `None`
/// when none does.
pub(super) fn explain(code: u16) -> Option<Explanation> {
    let facts = wsdoctor_app::close_code_facts(code);
    let (first_protocol, first) = *facts.first()?;
    let title = match facts.len() {
        1 => format!("{code} {} ({first_protocol})", first.name),
        _ => format!("{code}: documented by {} protocols", facts.len()),
    };
    let mut sources = Vec::new();
    let mut root_causes = Vec::new();
    let mut how = Vec::new();
    let mut next_check = Vec::new();
    let mut related = Vec::new();
    for (protocol, fact) in &facts {
        root_causes.push(format!("{protocol} {}: {}", fact.name, fact.meaning));
        how.push(format!("{protocol}: {} (fix: {})", fact.name, fact.fix));
        sources.push(format!("{} (read {})", fact.source, fact.read));
        if !related.iter().any(|r| r == fact.cause) {
            related.push(fact.cause.to_owned());
        }
        next_check.push(format!(
            "`wsdoctor probe URL --app {protocol}` speaks {protocol} as its client does; `--app raw` shows what a client that does not speak it gets"
        ));
    }
    Some(Explanation {
        topic: Topic::CloseCode(code),
        title,
        meaning: first.meaning.to_owned(),
        on_wire: Some(
            "may be sent in a close frame (private-use range, defined by the protocol)".to_owned(),
        ),
        typical_sender: Some(format!("a {first_protocol} server (or client)")),
        root_causes,
        how_to_tell_apart: how,
        subcauses: Vec::new(),
        next_check,
        related,
        fix_snippet: None,
        sources,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn every_graphql_transport_ws_code_is_explained_with_its_source() {
        for code in [4400, 4401, 4403, 4406, 4408, 4409, 4429, 4499, 4500] {
            let e = crate::explain(&code.to_string()).unwrap();
            assert!(
                e.title.contains("graphql-transport-ws"),
                "{code}: {}",
                e.title
            );
            assert!(e.sources.iter().all(|s| s.contains("(read 20")), "{code}");
        }
        let e = crate::explain("4408").unwrap();
        assert!(e.title.contains("ConnectionInitialisationTimeout"));
        assert_eq!(e.related, ["app-init-timeout"]);
        // A code no protocol documents is still the private range.
        let e = crate::explain("4001").unwrap();
        assert!(e.title.contains("private-use"));
    }
}

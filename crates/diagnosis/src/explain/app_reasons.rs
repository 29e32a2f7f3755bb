//! Reasons application protocols give in their own messages, not as close
//! codes: MQTT CONNACK/DISCONNECT codes (`explain mqtt:0x8D`, `explain
//! 0x8D`), Action Cable disconnect reasons (`explain unauthorized`), Phoenix
//! channel events (`explain phx_error`), SignalR's close message, STOMP's
//! ERROR frame. The facts and their sources live in `wsdoctor-app`
//! (`reasons.rs`); this turns them into an explanation.

use super::{Explanation, Topic};

/// The explanation of an in-band reason; `None` when no protocol documents it.
pub(super) fn explain(input: &str) -> Option<Explanation> {
    let facts = wsdoctor_app::reason_facts(input);
    let first = *facts.first()?;
    let title = match facts.len() {
        1 if first.key == first.name => format!("{} ({})", first.key, first.protocol),
        1 => format!("{} {} ({})", first.key, first.name, first.protocol),
        n => format!("{}: said by {n} protocols", first.key),
    };
    let mut explanation = Explanation {
        topic: Topic::AppReason {
            protocol: first.protocol.id(),
            key: first.key,
        },
        title,
        meaning: first.meaning.to_owned(),
        on_wire: Some(format!(
            "inside the protocol's own message ({}), not a WebSocket close code",
            first.protocol
        )),
        typical_sender: Some(format!("the {} server", first.protocol)),
        root_causes: Vec::new(),
        how_to_tell_apart: Vec::new(),
        subcauses: Vec::new(),
        next_check: Vec::new(),
        related: Vec::new(),
        fix_snippet: None,
        sources: Vec::new(),
    };
    for fact in facts {
        let protocol = fact.protocol;
        explanation
            .root_causes
            .push(format!("{protocol} {}: {}", fact.name, fact.meaning));
        explanation
            .how_to_tell_apart
            .push(format!("{protocol}: {} (fix: {})", fact.name, fact.fix));
        explanation.next_check.push(format!(
            "`wsdoctor probe URL --app {protocol}` speaks {protocol} as its client does and records the reason with its time"
        ));
        if !explanation.related.iter().any(|r| r == fact.cause) {
            explanation.related.push(fact.cause.to_owned());
        }
        explanation
            .sources
            .push(format!("{} (read {})", fact.source, fact.read));
    }
    Some(explanation)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn in_band_reasons_are_explained_with_their_sources() {
        let e = crate::explain("mqtt:0x8D").unwrap();
        assert!(e.title.contains("Keep Alive timeout"), "{}", e.title);
        assert_eq!(e.related, ["app-heartbeat-timeout"]);
        assert!(e.sources[0].contains("docs.oasis-open.org"));
        let e = crate::explain("unauthorized").unwrap();
        assert!(e.title.contains("actioncable"), "{}", e.title);
        assert_eq!(e.related, ["policy-close"]);
        assert!(crate::explain("phx_error").is_ok());
        // Cause ids and close codes keep their meaning.
        assert!(crate::explain("idle-timeout")
            .unwrap()
            .title
            .contains("idle-timeout"));
        assert!(crate::explain("bogus-reason").is_err());
    }
}

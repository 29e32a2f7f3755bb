//! `--via ID`: a hop outside the files linted, named by its kb id. The
//! lookup lives beside the kb so every caller refuses an unknown id with
//! the same list of the ids that would work.

use super::Kb;

/// A `--via` id the kb does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--via: unknown hop '{id}' (known: {})", known.join(", "))]
pub struct UnknownHop {
    /// The id as given, lower-cased.
    pub id: String,
    /// The ids `--via` takes: hops that proxy or have an idle timeout.
    pub known: Vec<String>,
}

impl Kb {
    /// The kb id of a `--via` argument (trimmed, lower-cased); `None` for
    /// an empty one, which names no hop.
    pub fn via_hop(&self, raw: &str) -> Result<Option<String>, UnknownHop> {
        let id = raw.trim().to_ascii_lowercase();
        if id.is_empty() {
            return Ok(None);
        }
        if self.intermediary(&id).is_some() {
            return Ok(Some(id));
        }
        let known = self
            .intermediaries()
            .iter()
            .filter(|i| i.is_proxy() || i.idle_timeout_default_s.is_some())
            .map(|i| i.id.clone())
            .collect();
        Err(UnknownHop { id, known })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::kb;

    #[test]
    fn via_ids_are_looked_up_in_the_kb() {
        assert_eq!(
            kb().via_hop(" AWS-ALB ").unwrap().as_deref(),
            Some("aws-alb")
        );
        assert_eq!(kb().via_hop("  ").unwrap(), None);
        let e = kb().via_hop("Nope").unwrap_err();
        assert_eq!(e.id, "nope");
        assert!(e.known.iter().any(|k| k == "nginx"));
        let said = e.to_string();
        assert!(
            said.starts_with("--via: unknown hop 'nope' (known: "),
            "{said}"
        );
        assert!(said.contains("aws-alb"), "{said}");
    }
}

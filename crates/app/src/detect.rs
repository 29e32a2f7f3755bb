//! Which protocol to speak, decided out loud: from `--app`, the URL path,
//! the subprotocols offered or chosen, and the server's first message (the
//! last one in [`crate::AppSession`]).

use url::Url;

use crate::{AppChoice, AppProtocol, Spec};

/// What was decided before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPlan {
    /// What `--app` said.
    pub choice: AppChoice,
    /// The protocol, when already known.
    pub protocol: Option<AppProtocol>,
    /// Why (or why not yet).
    pub decided_by: String,
}

impl AppPlan {
    /// The planned protocol's harmless keepalive message as text, when it
    /// is known before connecting, spoken, and has one (a data keepalive
    /// that is not the protocol's would be dropped by its server).
    pub fn keepalive_text(&self, query: &str) -> Option<String> {
        let spec = self.protocol.filter(|_| self.speaks())?.spec()?;
        let start = crate::StartContext {
            query: query.to_owned(),
            subprotocol: None,
            login: None,
        };
        match (spec.start)(&start).keepalive()? {
            crate::Outgoing::Text(text) => Some(text),
            crate::Outgoing::Binary(_) => None,
        }
    }

    /// True when wsdoctor sends the protocol's messages (everything but
    /// `--app raw`).
    pub fn speaks(&self) -> bool {
        self.choice != AppChoice::Raw
    }
}

/// The plan cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The protocol is known by name but not spoken yet.
    #[error("--app {0}: wsdoctor does not speak {0} yet; use --app raw (or auto) meanwhile")]
    NotSupportedYet(AppProtocol),
}

/// Decides what can be decided before connecting, and changes the URL and
/// the offered subprotocols as the protocol's real client does (only when
/// it will be spoken: `raw` changes nothing).
pub fn plan(
    choice: AppChoice,
    url: &mut Url,
    offered: &mut Vec<String>,
) -> Result<AppPlan, PlanError> {
    let (protocol, decided_by) = match choice {
        AppChoice::Use(p) => {
            let spec = p.spec().ok_or(PlanError::NotSupportedYet(p))?;
            (Some(spec), format!("--app {p}"))
        }
        AppChoice::Raw | AppChoice::Auto => match from_url_or_offer(url, offered) {
            Found::Spoken(spec, why) => (Some(spec), why),
            Found::Unsupported(p, why) => {
                (None, format!("{why}, but wsdoctor does not speak {p} yet"))
            }
            Found::Nothing => (None, String::new()),
        },
    };
    if let (Some(spec), true) = (protocol, choice != AppChoice::Raw) {
        (spec.prepare_url)(url);
        let offers_one = offered
            .iter()
            .any(|o| spec.subprotocols.contains(&o.as_str()));
        if !offers_one {
            // All of them, in the order the real client offers them
            // (@stomp/stompjs: v12.stomp, v11.stomp, v10.stomp; Action
            // Cable: actioncable-v1-json, actioncable-unsupported), so a
            // server that speaks only an older version still picks one.
            offered.extend(spec.subprotocols.iter().map(|s| (*s).to_owned()));
        }
    }
    Ok(AppPlan {
        choice,
        protocol: protocol.map(|s| s.protocol),
        decided_by,
    })
}

enum Found {
    Spoken(&'static Spec, String),
    Unsupported(AppProtocol, String),
    Nothing,
}

fn from_url_or_offer(url: &Url, offered: &[String]) -> Found {
    let path = url.path();
    for p in AppProtocol::ALL {
        let Some(spec) = p.spec() else {
            if let Some(marker) = unsupported_path_marker(p).filter(|m| path.contains(m)) {
                return Found::Unsupported(p, format!("the URL path contains {marker}"));
            }
            continue;
        };
        if let Some(marker) = spec.path_markers.iter().find(|m| path.contains(*m)) {
            return Found::Spoken(spec, format!("the URL path contains {marker}"));
        }
        if let Some(sub) = offered
            .iter()
            .find(|o| spec.subprotocols.contains(&o.as_str()))
        {
            return Found::Spoken(spec, format!("the subprotocol {sub} was offered"));
        }
    }
    Found::Nothing
}

/// Path markers of protocols not spoken yet, so `auto` can say what it saw.
fn unsupported_path_marker(p: AppProtocol) -> Option<&'static str> {
    match p {
        AppProtocol::ActionCable => Some("/cable"),
        AppProtocol::Phoenix => Some("/socket/websocket"),
        _ => None,
    }
}

/// The supported protocol whose subprotocol the server chose.
pub(crate) fn from_chosen_subprotocol(chosen: &str) -> Option<&'static Spec> {
    supported().find(|s| s.subprotocols.contains(&chosen))
}

/// The supported protocol whose greeting `first` is.
pub(crate) fn from_first_message(first: &str) -> Option<&'static Spec> {
    supported().find(|s| (s.sniff)(first))
}

fn supported() -> impl Iterator<Item = &'static Spec> {
    AppProtocol::ALL.into_iter().filter_map(AppProtocol::spec)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(
        choice: &str,
        url: &str,
        offered: &[&str],
    ) -> (Result<AppPlan, PlanError>, Url, Vec<String>) {
        let mut url = Url::parse(url).unwrap();
        let mut offered: Vec<String> = offered.iter().map(|s| (*s).to_owned()).collect();
        let plan = plan(choice.parse().unwrap(), &mut url, &mut offered);
        (plan, url, offered)
    }

    #[test]
    fn socketio_path_adds_the_engineio_query_in_auto() {
        let (plan, url, _) = run("auto", "ws://h/socket.io/", &[]);
        let plan = plan.unwrap();
        assert_eq!(plan.protocol, Some(AppProtocol::SocketIo));
        assert_eq!(plan.decided_by, "the URL path contains /socket.io/");
        assert_eq!(url.query(), Some("EIO=4&transport=websocket"));
    }

    #[test]
    fn raw_recognises_but_changes_nothing() {
        let (plan, url, offered) = run("raw", "ws://h/socket.io/", &[]);
        let plan = plan.unwrap();
        assert_eq!(plan.protocol, Some(AppProtocol::SocketIo));
        assert!(!plan.speaks());
        assert_eq!(url.query(), None);
        assert!(offered.is_empty());
    }

    #[test]
    fn explicit_graphql_offers_its_subprotocol() {
        let (plan, _, offered) = run("graphql-transport-ws", "ws://h/graphql", &[]);
        assert_eq!(plan.unwrap().decided_by, "--app graphql-transport-ws");
        assert_eq!(offered, ["graphql-transport-ws"]);
    }

    #[test]
    fn offered_subprotocol_decides_in_auto() {
        let (plan, _, offered) = run("auto", "ws://h/graphql", &["graphql-ws"]);
        assert_eq!(plan.unwrap().protocol, Some(AppProtocol::GraphqlWs));
        assert_eq!(offered, ["graphql-ws"]);
    }

    #[test]
    fn a_plain_url_decides_nothing_yet() {
        let (plan, url, offered) = run("auto", "ws://h/ws?x=1", &[]);
        assert_eq!(plan.unwrap().protocol, None);
        assert_eq!(url.as_str(), "ws://h/ws?x=1");
        assert!(offered.is_empty());
    }

    #[test]
    fn phoenix_and_action_cable_paths_decide_in_auto() {
        // Was "protocols_not_spoken_yet_say_so": every protocol is spoken now.
        let (plan, url, _) = run("auto", "ws://h/socket/websocket", &[]);
        assert_eq!(plan.unwrap().protocol, Some(AppProtocol::Phoenix));
        assert_eq!(url.query(), Some("vsn=2.0.0"));
        let (plan, _, offered) = run("auto", "ws://h/cable", &[]);
        let plan = plan.unwrap();
        assert_eq!(plan.protocol, Some(AppProtocol::ActionCable));
        assert_eq!(plan.decided_by, "the URL path contains /cable");
        assert_eq!(offered, ["actioncable-v1-json", "actioncable-unsupported"]);
    }

    #[test]
    fn every_subprotocol_the_real_client_offers_is_offered() {
        let (_, _, offered) = run("stomp", "ws://h/ws", &[]);
        assert_eq!(offered, ["v12.stomp", "v11.stomp", "v10.stomp"]);
        // One the user offered already is kept alone.
        let (_, _, offered) = run("stomp", "ws://h/ws", &["v11.stomp"]);
        assert_eq!(offered, ["v11.stomp"]);
        let (_, _, offered) = run("mqtt", "ws://h/mqtt", &[]);
        assert_eq!(offered, ["mqtt"]);
    }

    #[test]
    fn every_name_parses() {
        for p in AppProtocol::ALL {
            assert_eq!(p.id().parse::<AppChoice>().unwrap(), AppChoice::Use(p));
        }
        assert!("bogus".parse::<AppChoice>().is_err());
    }
}

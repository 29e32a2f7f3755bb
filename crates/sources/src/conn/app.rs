//! Application protocols on a connection (Socket.IO, GraphQL over
//! WebSocket, …): [`prepare`] changes the URL and the offered
//! subprotocols before connecting, as the protocol's real client does;
//! [`attach`] hands the opened connection's session the protocol.

use std::time::Instant;

use wsdoctor_app::{AppChoice, AppPlan, AppSession, PlanError, StartContext};
use wsdoctor_evidence::ConnectionRecord;

use super::session::{app_layer, Session};
use super::{ConnectOptions, Target};

/// Decides what can be decided before connecting and changes `options`
/// accordingly (`--app raw` changes nothing). The plan is kept in
/// `options.app`.
pub fn prepare(options: &mut ConnectOptions, choice: AppChoice) -> Result<(), PlanError> {
    let mut url = options.target.url.clone();
    let plan = wsdoctor_app::plan(choice, &mut url, &mut options.subprotocols)?;
    if url != options.target.url {
        // Only the query changed; a URL that parsed once parses again.
        if let Ok(target) = Target::parse(url.as_str()) {
            options.target = target;
        }
    }
    options.app = Some(plan);
    Ok(())
}

/// Gives `session` the protocol `options` planned, now that the
/// connection opened (`record` has the server's answer). No plan: nothing.
pub fn attach(
    session: &mut Session,
    options: &ConnectOptions,
    record: &ConnectionRecord,
    now: Instant,
) {
    let Some(plan) = &options.app else { return };
    let app = new_session(plan, options, record, session.origin());
    session.use_app(app_layer(app), now);
}

/// The planned protocol's keepalive text (for a data keepalive), if any.
pub fn keepalive_text(options: &ConnectOptions) -> Option<String> {
    let query = options.target.url.query().unwrap_or_default();
    options.app.as_ref()?.keepalive_text(query)
}

fn new_session(
    plan: &AppPlan,
    options: &ConnectOptions,
    record: &ConnectionRecord,
    origin: Instant,
) -> AppSession {
    // A step before the upgrade (SignalR's negotiate) left its words here.
    let before = record.app.as_ref().map(|a| a.decided_by.as_str());
    let noted;
    let plan = match before.filter(|b| !b.is_empty()) {
        Some(before) => {
            noted = AppPlan {
                decided_by: format!("{}; {before}", plan.decided_by),
                ..plan.clone()
            };
            &noted
        }
        None => plan,
    };
    let start = StartContext {
        query: options.target.url.query().unwrap_or_default().to_owned(),
        subprotocol: record
            .handshake
            .as_ref()
            .and_then(|h| h.subprotocol.clone()),
        // STOMP's login/passcode, MQTT's user name/password.
        login: wsdoctor_app::Login::from_url(
            &options.target.url,
            std::env::var(wsdoctor_app::PASSWORD_ENV).ok(),
        ),
    };
    AppSession::new(plan, start, origin)
}

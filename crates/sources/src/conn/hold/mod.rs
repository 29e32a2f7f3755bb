//! The hold pool ([`HoldPool`], `wsdoctor_wire_io::hold`: mio worker
//! threads holding many plain-TCP connections at about 1 KiB each) and
//! this crate's way of dialing through it ([`Dial`]: plain TCP and the
//! HTTP/1.1 upgrade of a [`super::ConnectOptions`]), which the pool runs on
//! the worker that will hold the connection.

mod dial;

pub use self::dial::{Dial, DialObserver};
pub use wsdoctor_wire_io::hold::{Ended, HoldPool, OnEnd, Responder, Response};

#[cfg(test)]
mod backpressure_tests;

/// How long a test waits for the pool.
#[cfg(test)]
const TEST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;
    use crate::conn::session::{Session, SessionConfig};
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    use wsdoctor_evidence::{ConnectionEnd, Role, Side};

    /// A real WebSocket server (tungstenite) that sends `text`, pings once,
    /// then waits for our close.
    async fn server() -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ws.send(Message::text("hello")).await.unwrap();
            ws.send(Message::Ping(b"p1".to_vec().into())).await.unwrap();
            let mut seen = Vec::new();
            // Read on after the close: tungstenite sends its answer then.
            while let Some(Ok(message)) = ws.next().await {
                seen.push(format!("{message:?}"));
            }
            seen
        });
        (addr, task)
    }

    #[tokio::test]
    async fn holds_answers_pings_and_closes_on_request() {
        let (addr, server) = server().await;
        let target = crate::conn::Target::parse(&format!("ws://{addr}/")).unwrap();
        let options = crate::conn::ConnectOptions::new(target);
        let origin = Instant::now();
        let mut record = crate::conn::new_record(
            &options.target,
            Role::Client,
            SessionConfig::default().heartbeat,
        );
        let open = crate::conn::open(&options, origin, &mut record)
            .await
            .expect("open");
        let mut session = Box::new(Session::new(
            SessionConfig::default(),
            origin,
            open.opened_at,
        ));
        let mut leftover = open.leftover;
        session.handle_data(Instant::now(), &mut leftover);
        let tcp = open
            .stream
            .into_any()
            .downcast::<tokio::net::TcpStream>()
            .expect("plain TCP");
        let pool = HoldPool::start(1).unwrap();
        let (ended_tx, ended_rx) = mpsc::channel();
        pool.adopt(
            *tcp,
            session,
            Box::new(move |s: Box<Session>| {
                let _ = ended_tx.send(s);
            }),
        )
        .map_err(|_| "adopt")
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        pool.close_all(Instant::now(), 1000, "done");
        let session = tokio::task::spawn_blocking(move || ended_rx.recv_timeout(TEST_WAIT))
            .await
            .unwrap()
            .expect("the connection ended");
        let (events, _, end, _) = session.into_evidence();
        let end = end.expect("an end").end;
        assert!(
            matches!(
                end,
                ConnectionEnd::CloseHandshake {
                    code: Some(1000),
                    initiator: Side::Local,
                    answered: true,
                    ..
                }
            ),
            "{end:?}"
        );
        let seen = server.await.unwrap();
        assert!(seen.iter().any(|m| m.contains("Pong")), "{seen:?}");
        assert!(seen.iter().any(|m| m.contains("Close")), "{seen:?}");
        drop(events);
    }
}

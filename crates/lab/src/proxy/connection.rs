//! One proxied connection: request head, upstream connect, response head
//! (marked with `Via`), then the relay, then ending the sockets as the relay
//! decided.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::head::{self, HeadRead, Kind};
use super::relay::{self, Finish, RelayInit};
use super::ProxyShared;
use crate::answer::{self, Ident};

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the upstream may take to answer the upgrade (unless the idle
/// timeout with `http-504` says less).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// The window over which `mass-disconnect` spreads its closes, as a reload
/// reaching workers one by one does.
const MASS_SPREAD_MS: u64 = 5;
/// How long to wait for the peers' FIN after ours.
const FIN_LINGER: Duration = Duration::from_secs(2);

/// Counts a connection as open for `max-conns` while it lives.
#[derive(Debug)]
pub(crate) struct Slot(pub(crate) Arc<ProxyShared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one accepted client from its request to the end.
pub(crate) async fn serve(mut client: TcpStream, slot: Slot) {
    let shared = Arc::clone(&slot.0);
    let plan = &shared.plan;
    // Faults are about timing; Nagle's delay would blur them.
    let _ = client.set_nodelay(true);
    let over_limit = plan
        .max_conns
        .filter(|(limit, _)| shared.active.load(Ordering::Relaxed) > *limit);
    if let Some((_, drop_it)) = over_limit {
        if drop_it {
            return;
        }
        // Read the request first: closing with unread data would be an RST.
        let _ = timeout(HEAD_TIMEOUT, head::read(&mut client, Kind::Request)).await;
        return answer_and_close(client, 503).await;
    }
    let request = match timeout(HEAD_TIMEOUT, head::read(&mut client, Kind::Request)).await {
        Ok(HeadRead::Complete(h)) => h,
        Ok(HeadRead::TooLarge) => return answer_and_close(client, 431).await,
        Ok(HeadRead::Malformed) => return answer_and_close(client, 400).await,
        Ok(HeadRead::Closed) | Err(_) => return,
    };
    let connect = timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.upstream)).await;
    let Ok(Ok(mut upstream)) = connect else {
        return answer_and_close(client, 502).await;
    };
    let _ = upstream.set_nodelay(true);
    let head_out = if plan.strip_upgrade {
        head::strip_upgrade(&request.bytes)
    } else {
        request.bytes
    };
    delay(plan.latency).await;
    if upstream.write_all(&head_out).await.is_err() {
        return answer_and_close(client, 502).await;
    }
    // A request body (a POST) goes up before the answer is awaited, as any
    // proxy does; early WebSocket frames wait for the 101 in the relay.
    let mut up_rest = request.rest;
    if request.content_length.is_some_and(|n| n > MAX_BODY) {
        // The upstream would wait for a body the proxy does not pass first.
        return answer_and_close(client, 413).await;
    }
    if let Some(length) = request.content_length {
        if pass_body(&mut client, &mut upstream, &mut up_rest, length)
            .await
            .is_err()
        {
            return answer_and_close(client, 502).await;
        }
    }
    let wait = plan.answer_timeout().unwrap_or(ANSWER_TIMEOUT);
    let response = match timeout(wait, head::read(&mut upstream, Kind::Response)).await {
        Ok(HeadRead::Complete(h)) => h,
        // nginx: "upstream sent invalid header" / "prematurely closed".
        Ok(_) => return answer_and_close(client, 502).await,
        Err(_) => return answer_and_close(client, 504).await,
    };
    let mut head_back = head::add_via(&response.bytes);
    if plan.strip_upgrade {
        head_back = head::replace_server(&head_back, head::NGINX);
    }
    delay(plan.latency).await;
    if client.write_all(&head_back).await.is_err() {
        return;
    }
    let init = RelayInit {
        plan,
        websocket: response.status == 101 && !plan.strip_upgrade,
        up_rest,
        down_rest: response.rest,
        mass_at: shared
            .mass_at
            .map(|at| at + Duration::from_millis(fastrand::u64(0..=MASS_SPREAD_MS))),
    };
    match relay::run(&mut client, &mut upstream, init).await {
        Finish::Drop => {}
        Finish::Rst => {
            reset(&client);
            reset(&upstream);
        }
        Finish::Fin => {
            tokio::join!(finish(&mut client), finish(&mut upstream));
        }
    }
}

/// Largest request body passed on before the answer (the browser probe's
/// reports are a few KiB); a longer one is answered 413.
const MAX_BODY: u64 = 1 << 20;

/// Writes the `length` bytes of body (`already` read with the head, the
/// rest from `client`) to `upstream`, within [`HEAD_TIMEOUT`].
async fn pass_body(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    already: &mut bytes::BytesMut,
    length: u64,
) -> std::io::Result<()> {
    let have = (already.len() as u64).min(length) as usize;
    upstream.write_all(&already.split_to(have)).await?;
    let mut left = length - have as u64;
    let mut chunk = vec![0_u8; 16 * 1024];
    timeout(HEAD_TIMEOUT, async {
        while left > 0 {
            let want = (left as usize).min(chunk.len());
            let n = client.read(&mut chunk[..want]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            upstream.write_all(&chunk[..n]).await?;
            left -= n as u64;
        }
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn delay(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// SO_LINGER 0: the close that follows (the drop) sends RST.
fn reset(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
}

/// FIN, then read and discard until the peer closes too (closing a socket
/// with unread data would send RST and turn a clean end into a reset).
async fn finish(tcp: &mut TcpStream) {
    let _ = timeout(FIN_LINGER, async {
        if tcp.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The proxy's own HTTP answer, as nginx words it, then FIN.
async fn answer_and_close(mut client: TcpStream, status: u16) {
    let ident = Ident {
        server: head::NGINX,
        instance: "proxy",
    };
    let bytes = head::add_via(&answer::status(status, ident));
    if client.write_all(&bytes).await.is_ok() {
        finish(&mut client).await;
    }
}

//! `serve` as a client meets it: whole connections over loopback, and the
//! browser page's report body.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wsdoctor_evidence::browser::BrowserEvidence;
use wsdoctor_lab::{DiagServer, ServeConfig};

/// One `serve` for the whole run (a fuzz process or a test binary), on a
/// runtime of its own.
struct Harness {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
    _server: DiagServer,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let config = ServeConfig {
            http2: true,
            ..ServeConfig::default()
        };
        let mut server = runtime
            .block_on(DiagServer::start(config))
            .expect("serve starts on 127.0.0.1:0");
        // Reports are handed on through a bounded channel; keep it drained
        // so every report reaches the code that files it.
        if let Some(mut reports) = server.take_browser_reports() {
            runtime.spawn(async move { while reports.recv().await.is_some() {} });
        }
        Harness {
            addr: server.addr(),
            _runtime: runtime,
            _server: server,
        }
    })
}

/// How long one connection may take before the client side gives up (the
/// server is then still answering or holding it, which is its right).
const CONNECTION_BUDGET: Duration = Duration::from_millis(150);
/// Most answer bytes read back; more is not an error, just not read.
const MAX_ANSWER: usize = 1 << 20;

/// Sends `bytes`, half-closes, reads what comes back within the budget.
/// `None` when no connection could be made: the fuzzer's own churn can
/// run loopback out of ports for a moment, which says nothing of serve.
fn exchange(addr: SocketAddr, bytes: &[u8], budget: Duration) -> Option<Vec<u8>> {
    let mut tcp = (0..50).find_map(|_| {
        TcpStream::connect(addr)
            .map_err(|_| std::thread::sleep(Duration::from_millis(20)))
            .ok()
    })?;
    let _ = tcp.set_write_timeout(Some(budget));
    // The server may answer and close before reading everything (a 4xx):
    // a failed write is its choice, not a bug.
    let _ = tcp.write_all(bytes);
    let _ = tcp.shutdown(Shutdown::Write);
    let deadline = Instant::now() + budget;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while answer.len() < MAX_ANSWER {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    // Ends with a reset: tens of thousands of connections a minute would
    // otherwise fill loopback with TIME-WAIT sockets and make connections
    // fail for the fuzzer's reasons, not serve's.
    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
    Some(answer)
}

/// Whether `serve` answers `/whoami`: tried three times, so that one
/// connection lost to loopback's own churn is not taken for serve's fault.
fn answers_whoami(addr: SocketAddr) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        let answer = exchange(
            addr,
            b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            Duration::from_secs(5),
        );
        match answer {
            Some(a) if a.starts_with(b"HTTP/1.1 200") => return Ok(()),
            Some(a) => last = String::from_utf8_lossy(&a[..a.len().min(200)]).into_owned(),
            None => last = "no connection".to_owned(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const UPGRADE: &[u8] = b"GET /ws?ping=off HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

/// One client connection to `serve`, shaped by the first byte: raw bytes
/// (a request head and whatever follows), the HTTP/2 preface and then
/// frames, a `/v1/browser` report body, or an upgrade and then client
/// frames. Afterwards `serve` must still answer another client.
pub(crate) fn serve_conn(data: &[u8]) {
    let h = harness();
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let bytes = match mode % 4 {
        0 => rest.to_vec(),
        1 => [PREFACE, rest].concat(),
        2 => {
            let head = format!(
                "POST /v1/browser HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                rest.len()
            );
            [head.as_bytes(), rest].concat()
        }
        _ => [UPGRADE, rest].concat(),
    };
    let _ = exchange(h.addr, &bytes, CONNECTION_BUDGET);
    if let Err(last) = answers_whoami(h.addr) {
        panic!("serve stopped answering after that input (three tries); last answer: {last:?}");
    }
}

/// A `/v1/browser` body: bounded and redacted when read, and what was read
/// reads again the same after a round trip through JSON.
pub(crate) fn browser_report(data: &[u8]) {
    let Ok(report) = BrowserEvidence::from_page(data) else {
        return;
    };
    let json = serde_json::to_vec(&report).expect("a report serializes");
    let again = BrowserEvidence::from_page(&json)
        .unwrap_or_else(|e| panic!("a report read once is refused the second time: {e}"));
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(&report).ok(),
        "reading a report twice changed it"
    );
}

//! Application-side fixes that can be pasted: a server heartbeat at half the
//! path's idle timeout, and client reconnects with full-jitter exponential
//! backoff. Every snippet lives here once; rules only choose which to attach.
//!
//! Libraries: Node `ws`, Python `websockets` (13 or newer, the
//! `websockets.asyncio` API), Go `github.com/coder/websocket` (the actively
//! maintained successor of nhooyr.io/websocket; gorilla/websocket went
//! through an archived period, and a server fingerprinted as gorilla gets the
//! knowledge base's gorilla snippet instead), Rust `tokio-tungstenite` (0.26
//! or newer, where payloads are `Bytes`; `Default::default()` also compiles
//! against older `Vec<u8>` payloads), and Spring WebSocket.

use super::typical_idle_timeouts;
use crate::finding::{fix, fix_with, Fix};
use crate::kb::Intermediary;
use crate::text::human;

/// Ping interval when no idle timeout is known: below every common default
/// (Heroku's 55 s is the lowest of them) with room for a lost ping.
pub const UNKNOWN_T_PING_S: u64 = 25;

/// First ceiling of the recommended reconnect backoff, s.
pub const BASE_S: f64 = 1.0;
/// Growth of the ceiling per attempt.
pub const FACTOR: f64 = 2.0;
/// Largest reconnect delay, s.
pub const CAP_S: f64 = 30.0;
/// A connection that stayed up this long ends an outage: the attempt count resets.
pub const STABLE_S: u64 = 30;

/// Half the idle timeout, whole seconds, at least 1 s and at most 30 s;
/// 25 s when unknown. Half, not just below: a ping lost or delayed once
/// still lands before T. At most 30 s because the measured or configured
/// timer is only the tightest one known: hops nobody measured (a client's
/// corporate proxy, a mobile carrier's NAT) commonly cut at 55–60 s.
pub fn ping_interval_s(idle_timeout_us: Option<u64>) -> u64 {
    match idle_timeout_us {
        // A timer measured a hair short of its setting (nginx's 20 s comes
        // out as 19.99 s) still gets half its setting: 10 s, not 9 s.
        Some(t) => (t.saturating_add(MEASURED_SHORT_US) / 2_000_000).clamp(1, MAX_PING_S),
        None => UNKNOWN_T_PING_S,
    }
}

/// How far below its setting a measured timer may come out (the first
/// frame's time, timer ticks).
const MEASURED_SHORT_US: u64 = 100_000;

/// The longest ping interval recommended, whatever the known timers.
const MAX_PING_S: u64 = 30;

/// A server library wsdoctor has a heartbeat snippet for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLib {
    /// Node.js `ws`.
    NodeWs,
    /// Python `websockets` (asyncio API).
    PythonWebsockets,
    /// Go `github.com/coder/websocket`.
    GoCoderWebsocket,
    /// Rust `tokio-tungstenite`.
    RustTungstenite,
    /// Spring WebSocket (Java).
    JavaSpring,
}

impl ServerLib {
    /// Every library, in the order the combined snippet lists them.
    pub const ALL: [ServerLib; 5] = [
        ServerLib::NodeWs,
        ServerLib::PythonWebsockets,
        ServerLib::GoCoderWebsocket,
        ServerLib::RustTungstenite,
        ServerLib::JavaSpring,
    ];

    /// The library a fingerprinted kb entry runs, when we have its snippet.
    /// gorilla/websocket and uvicorn keep the kb's own snippet.
    pub fn from_kb_id(id: &str) -> Option<ServerLib> {
        match id {
            "nodejs-http" => Some(ServerLib::NodeWs),
            "python-websockets" => Some(ServerLib::PythonWebsockets),
            "rust-tungstenite" => Some(ServerLib::RustTungstenite),
            "spring" => Some(ServerLib::JavaSpring),
            _ => None,
        }
    }

    /// The heartbeat code for this library, pinging every `p` seconds and
    /// dropping a peer whose pong has not come back within two intervals.
    pub fn heartbeat_snippet(self, p: u64) -> String {
        let two_p = 2 * p;
        match self {
            ServerLib::NodeWs => format!(
                r#"// Node (ws): ping every {p} s; a client that did not answer the last ping is gone
wss.on('connection', (ws) => {{
  ws.isAlive = true;
  ws.on('pong', () => {{ ws.isAlive = true; }});
}});
const heartbeat = setInterval(() => {{
  for (const ws of wss.clients) {{
    if (!ws.isAlive) {{ ws.terminate(); continue; }}
    ws.isAlive = false;
    ws.ping();
  }}
}}, {p} * 1000);
wss.on('close', () => clearInterval(heartbeat));"#
            ),
            ServerLib::PythonWebsockets => format!(
                r#"# Python (websockets ≥ 13): the library pings, and closes on a missing pong
from websockets.asyncio.server import serve

async def main():
    async with serve(handler, "", 8765, ping_interval={p}, ping_timeout={p}) as server:
        await server.serve_forever()"#
            ),
            ServerLib::GoCoderWebsocket => format!(
                r#"// Go (github.com/coder/websocket): Ping waits for the pong, so keep reading
// (c.Read in your loop, or c.CloseRead(ctx) if the server only writes).
// Start it after websocket.Accept: go heartbeat(ctx, c)
func heartbeat(ctx context.Context, c *websocket.Conn) {{
	t := time.NewTicker({p} * time.Second)
	defer t.Stop()
	for {{
		select {{
		case <-ctx.Done():
			return
		case <-t.C:
			pingCtx, cancel := context.WithTimeout(ctx, {p}*time.Second)
			err := c.Ping(pingCtx)
			cancel()
			if err != nil {{ // no pong in time: the client or the path is gone
				c.CloseNow()
				return
			}}
		}}
	}}
}}"#
            ),
            ServerLib::RustTungstenite => format!(
                r#"// Rust (tokio-tungstenite, futures_util::{{SinkExt, StreamExt}}): tungstenite
// answers pings but never sends them
let (mut tx, mut rx) = ws.split();
let mut ping = tokio::time::interval(Duration::from_secs({p}));
let mut last_pong = Instant::now();
loop {{
    tokio::select! {{
        _ = ping.tick() => {{
            if last_pong.elapsed() > Duration::from_secs({two_p}) {{ break; }} // gone
            if tx.send(Message::Ping(Default::default())).await.is_err() {{ break; }}
        }}
        msg = rx.next() => match msg {{
            Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
            Some(Ok(msg)) => handle(msg),
            _ => break,
        }},
    }}
}}"#
            ),
            ServerLib::JavaSpring => format!(
                r#"// Java (Spring WebSocket, @EnableScheduling): a plain WebSocketHandler sends no pings
public class Handler extends AbstractWebSocketHandler {{
    private final Map<WebSocketSession, Long> lastPong = new ConcurrentHashMap<>();

    @Override public void afterConnectionEstablished(WebSocketSession s) {{ lastPong.put(s, System.nanoTime()); }}
    @Override protected void handlePongMessage(WebSocketSession s, PongMessage m) {{ lastPong.put(s, System.nanoTime()); }}
    @Override public void afterConnectionClosed(WebSocketSession s, CloseStatus st) {{ lastPong.remove(s); }}

    @Scheduled(fixedRate = {p}, timeUnit = TimeUnit.SECONDS)
    void ping() {{
        long now = System.nanoTime();
        lastPong.forEach((s, seen) -> {{
            try {{
                if (now - seen > TimeUnit.SECONDS.toNanos({two_p})) s.close(CloseStatus.SESSION_NOT_RELIABLE);
                else s.sendMessage(new PingMessage()); // one sender at a time: wrap s in ConcurrentWebSocketSessionDecorator
            }} catch (IOException e) {{ lastPong.remove(s); }}
        }});
    }}
}}
// STOMP: registry.enableSimpleBroker("/topic").setHeartbeatValue(new long[] {{{p}000, {p}000}}).setTaskScheduler(scheduler);"#
            ),
        }
    }
}

/// The server heartbeat fix: a ping every T/2 (25 s when T is unknown), as
/// code for the fingerprinted server library when there is one, else for
/// every library we cover.
pub fn server_ping_fix(idle_timeout_us: Option<u64>, server_lib: Option<&Intermediary>) -> Fix {
    let p = ping_interval_s(idle_timeout_us);
    let why = match idle_timeout_us {
        Some(t) if p * 2_000_000 + 1_999_999 < t => format!(
            "well inside the {} idle timeout; 30 s at most, since hops nobody measured often cut at 55–60 s",
            human(t)
        ),
        Some(t) => format!("half the {} idle timeout", human(t)),
        None => format!(
            "below every common idle timeout: {}",
            typical_idle_timeouts()
        ),
    };
    let text = format!(
        "Send a WebSocket ping from the server every {p} s ({why}) and close connections \
         whose pongs stop coming back. Browsers cannot send pings, so the server has to."
    );
    let known = server_lib.and_then(|i| ServerLib::from_kb_id(&i.id).map(|lib| (i, lib)));
    if let Some((i, lib)) = known {
        return fix_with(&i.id, text, &lib.heartbeat_snippet(p));
    }
    if let Some((i, snippet)) = server_lib.and_then(|i| i.fix_snippet.as_deref().map(|s| (i, s))) {
        return fix_with(&i.id, text, snippet);
    }
    let all: Vec<String> = ServerLib::ALL
        .iter()
        .map(|lib| lib.heartbeat_snippet(p))
        .collect();
    fix_with("server", text, &all.join("\n\n"))
}

/// A heartbeat only the application can send (a path that ignores ping
/// frames, or counts one direction only): a small message every T/2.
pub fn app_heartbeat_fix(for_: &str, idle_timeout_us: u64, why: &str) -> Fix {
    let p = ping_interval_s(Some(idle_timeout_us));
    fix(
        for_,
        format!("{why}: send a small application message (a heartbeat) every {p} s, well inside the measured {} timeout.", human(idle_timeout_us)),
    )
}

const RECONNECT_JS: &str = r#"// JavaScript (browser or Node)
let attempt = 0, openedAt = 0;
function connect() {
  const ws = new WebSocket(url);
  ws.onopen = () => { openedAt = Date.now(); };
  ws.onclose = () => {
    if (openedAt && Date.now() - openedAt > 30_000) attempt = 0; // it stayed up: a new outage
    openedAt = 0;
    const ceiling = Math.min(30_000, 1_000 * 2 ** attempt++);
    setTimeout(connect, Math.random() * ceiling);               // full jitter
  };
}
connect();"#;

const RECONNECT_PYTHON: &str = r#"# Python (websockets ≥ 13)
attempt = 0
while True:
    started = time.monotonic()
    try:
        async with websockets.connect(url) as ws:
            async for message in ws:
                handle(message)
    except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
        pass
    if time.monotonic() - started > 30:
        attempt = 0  # it stayed up: a new outage
    await asyncio.sleep(random.uniform(0, min(30, 1 * 2 ** attempt)))  # full jitter
    attempt += 1"#;

const RECONNECT_GO: &str = r#"// Go (github.com/coder/websocket)
for attempt := 0; ; attempt++ {
	started := time.Now()
	if c, _, err := websocket.Dial(ctx, url, nil); err == nil {
		serve(ctx, c) // returns when the connection drops
	}
	if time.Since(started) > 30*time.Second {
		attempt = 0 // it stayed up: a new outage
	}
	ceiling := math.Min(30, math.Pow(2, float64(attempt))) // seconds
	time.Sleep(time.Duration(rand.Float64() * ceiling * float64(time.Second))) // full jitter
}"#;

const RECONNECT_RUST: &str = r#"// Rust (tokio-tungstenite, fastrand)
let mut attempt = 0u32;
loop {
    let started = Instant::now();
    if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
        serve(ws).await; // returns when the connection drops
    }
    if started.elapsed() > Duration::from_secs(30) { attempt = 0; } // a new outage
    let ceiling = Duration::from_secs(30).min(Duration::from_secs(1 << attempt.min(5)));
    tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await; // full jitter
    attempt += 1;
}"#;

/// The reconnect snippets, one per client language.
pub const RECONNECT_SNIPPETS: [&str; 4] =
    [RECONNECT_JS, RECONNECT_PYTHON, RECONNECT_GO, RECONNECT_RUST];

/// The client fix: full-jitter exponential backoff with its numbers, and
/// the code in four languages.
pub fn full_jitter_fix() -> Fix {
    fix_with(
        "client",
        format!(
            "Reconnect with full-jitter exponential backoff: before attempt n wait a random time \
             between 0 and min({CAP_S:.0} s, {BASE_S:.0} s × {FACTOR:.0}^n); reset n only after a \
             connection stayed up for {STABLE_S} s (not when it opens); on a 1013 close or a 503 \
             with Retry-After wait at least that long. After an outage the returning clients then \
             spread over the whole window instead of arriving together."
        ),
        &RECONNECT_SNIPPETS.join("\n\n"),
    )
}

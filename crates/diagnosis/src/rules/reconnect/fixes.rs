//! The fix for a client without backoff or jitter: full-jitter exponential
//! backoff, in the four languages clients are most often written in.

use crate::finding::Fix;
use crate::rules::common::fix_with;

/// First ceiling of the recommended backoff, s.
pub const BASE_S: f64 = 1.0;
/// Largest delay of the recommended backoff, s.
pub const CAP_S: f64 = 30.0;

const SNIPPET: &str = r#"// JavaScript (browser or Node)
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
connect();

# Python (websockets)
attempt = 0
while True:
    started = time.monotonic()
    try:
        async with websockets.connect(url) as ws:
            async for message in ws:
                handle(message)
    except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus):
        pass
    if time.monotonic() - started > 30:
        attempt = 0
    await asyncio.sleep(random.uniform(0, min(30, 1 * 2 ** attempt)))
    attempt += 1

// Go
for attempt := 0; ; attempt++ {
	started := time.Now()
	if conn, _, err := websocket.DefaultDialer.Dial(url, nil); err == nil {
		serve(conn) // returns when the connection drops
	}
	if time.Since(started) > 30*time.Second {
		attempt = 0
	}
	ceiling := math.Min(30, math.Pow(2, float64(attempt))) // seconds
	time.Sleep(time.Duration(rand.Float64() * ceiling * float64(time.Second)))
}

// Rust (tokio-tungstenite)
let mut attempt = 0u32;
loop {
    let started = Instant::now();
    if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
        serve(ws).await; // returns when the connection drops
    }
    if started.elapsed() > Duration::from_secs(30) { attempt = 0; }
    let ceiling = Duration::from_secs(30).min(Duration::from_secs(1 << attempt.min(5)));
    tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await; // full jitter
    attempt += 1;
}"#;

/// The fix: full-jitter exponential backoff with numbers, and the snippets.
pub fn full_jitter_fix() -> Fix {
    fix_with(
        "client",
        format!(
            "Reconnect with full-jitter exponential backoff: before attempt n wait a random time \
             between 0 and min({CAP_S:.0} s, {BASE_S:.0} s × 2^n); reset n only after a connection \
             stayed up for {CAP_S:.0} s (not when it opens); on a 1013 close or a 503 with \
             Retry-After wait at least that long. After an outage the returning clients then \
             spread over the whole window instead of arriving together."
        ),
        SNIPPET,
    )
}

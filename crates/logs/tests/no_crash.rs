//! No line crashes a parser: arbitrary bytes, and mutations of real lines,
//! are either read or counted as malformed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wsdoctor_evidence::logs::LogFormat;
use wsdoctor_logs::{read_logs, Input, LogsConfig, NginxFormat};

const SEEDS: &[&str] = &[
    r#"wss 2026-01-15T14:03:11.186641Z app/my-lb/50dc 10.0.0.140:44244 10.0.0.171:8010 0.000 0.001 0.000 101 101 218 786 "GET https://h:443/chat HTTP/1.1" "UA" c p arn "Root" "d" "c" 1 2026-01-15T14:02:11.186000Z "forward" "-" "-" "t" "101" "-" "-" TID"#,
    r#"203.0.113.9 - - [15/Jan/2026:14:03:11 +0000] "GET /ws HTTP/1.1" 101 520 "-" "Mozilla/5.0" 60.001"#,
    r#"Jan 15 14:03:11 lb1 haproxy[1]: 10.0.1.2:33317 [15/Jan/2026:14:02:11.000] fe be/s 0/0/1/2/60003 101 180 - - cD-- 1/1/1/1/0 0/0 "GET /s HTTP/1.1""#,
    "2026/01/15 14:02:11 [error] 31#31: *5 upstream timed out while proxying upgraded connection",
    r#"{"instance":"fx","client":"a","connection":{"target":"ws://127.0.0.1:1/ws?client=a","started_at":"2026-11-26T11:53:04Z","handshake":{"status":101},"end":{"end":{"kind":"close-handshake","code":1000},"at_us":2001526,"open_for_us":2001000}}}"#,
];

fn run(format: LogFormat, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.log");
    std::fs::write(&path, bytes).unwrap();
    let mut config = LogsConfig::new(vec![Input::Path(path)]);
    config.format = Some(format);
    config.nginx_format = NginxFormat::compile(
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#,
    )
    .unwrap();
    let ev = match read_logs(&config) {
        Ok(ev) => ev,
        // Bytes that start with gzip's magic are read as gzip, and a broken
        // gzip stream is a clear error, not a panic; nothing else may fail.
        Err(e) => {
            assert!(bytes.starts_with(&[0x1f, 0x8b]), "{e}");
            return;
        }
    };
    // Every line is accounted for: read, or counted as malformed.
    assert!(ev.files[0].malformed <= ev.files[0].lines);
    let _ = wsdoctor_diagnosis::rules::logs::diagnose_logs(&ev);
}

const FORMATS: [LogFormat; 5] = [
    LogFormat::Alb,
    LogFormat::Nginx,
    LogFormat::Haproxy,
    LogFormat::NginxError,
    LogFormat::Wsdoctor,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), f in 0usize..5) {
        run(FORMATS[f], &bytes);
    }

    #[test]
    fn mutated_real_lines(seed in 0usize..5, cut in 0usize..400, at in 0usize..400, byte in any::<u8>(), f in 0usize..5) {
        let mut line = SEEDS[seed].as_bytes().to_vec();
        if at < line.len() {
            line[at] = byte;
        }
        line.truncate(cut.max(1));
        run(FORMATS[f], &line);
    }
}

#[test]
fn har_that_is_not_json_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.har");
    std::fs::write(
        &path,
        b"{\"log\": {\"entries\": [ {\"startedDateTime\": 5 } ] }",
    )
    .unwrap();
    let mut config = LogsConfig::new(vec![Input::Path(path)]);
    config.format = Some(LogFormat::Har);
    assert!(read_logs(&config).is_err());
}

/// What proptest once found: bytes that start like gzip but are not.
#[test]
fn broken_gzip_is_an_error_not_a_panic() {
    run(LogFormat::Nginx, &[0x1f, 0x8b, 0x00, 0x41, 0x42]);
}

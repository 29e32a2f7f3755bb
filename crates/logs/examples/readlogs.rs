//! Reads logs with the library alone and prints what it counted, for
//! profiling the parsers without the CLI (`perf`, `valgrind --tool=callgrind`).
//!
//! `cargo run --release -p wsdoctor-logs --example readlogs -- FILE [LOG_FORMAT]`

#![allow(clippy::print_stdout, clippy::print_stderr)]

use wsdoctor_logs::{read_logs, Input, LogsConfig, NginxFormat};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: readlogs FILE [LOG_FORMAT]");
        std::process::exit(2);
    };
    let mut config = LogsConfig::new(vec![Input::from_arg(path)]);
    if let Some(format) = args.get(2) {
        match NginxFormat::compile(format) {
            Ok(f) => config.nginx_format = f,
            Err(e) => {
                eprintln!("log format: {e}");
                std::process::exit(2);
            }
        }
    }
    match read_logs(&config) {
        Ok(ev) => println!(
            "lines {} connections {} failed {} malformed {}",
            ev.files.iter().map(|f| f.lines).sum::<u64>(),
            ev.connections,
            ev.failed_upgrades_total,
            ev.files.iter().map(|f| f.malformed).sum::<u64>()
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

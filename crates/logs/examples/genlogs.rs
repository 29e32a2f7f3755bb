//! Writes a synthetic ALB or nginx access log with planted drop patterns
//! (see `tests/support/generator.rs`) and prints what was planted as JSON
//! on stderr.
//!
//! `cargo run --release -p wsdoctor-logs --example genlogs -- alb 1073741824 out.log`

#![allow(clippy::print_stderr)]

use std::io::BufWriter;

#[path = "../tests/support/generator.rs"]
mod generator;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(flavor), Some(bytes), Some(path)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: genlogs alb|nginx BYTES OUT");
        std::process::exit(2);
    };
    let flavor = match flavor.as_str() {
        "alb" => generator::Flavor::Alb,
        "nginx" => generator::Flavor::Nginx,
        other => {
            eprintln!("unknown flavor {other}: alb or nginx");
            std::process::exit(2);
        }
    };
    let bytes: u64 = bytes.parse().unwrap_or(1 << 30);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let p = generator::generate(flavor, bytes, 42, &mut out)?;
    eprintln!(
        "{{\"lines\":{},\"bytes\":{},\"connections\":{},\"idle\":{},\"mass\":{},\"mass_at_ms\":{},\"failed\":{},\"storm_clients\":{},\"load_limit\":{},\"load_limited\":{}}}",
        p.lines,
        p.bytes,
        p.connections,
        p.idle,
        p.mass,
        p.mass_at_ms,
        p.failed,
        p.storm_clients,
        generator::LOAD_LIMIT,
        p.load_limited
    );
    if flavor == generator::Flavor::Nginx {
        eprintln!("nginx log_format: {}", generator::NGINX_FORMAT);
    }
    Ok(())
}

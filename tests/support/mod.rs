//! Real proxies for the tests: nginx and HAProxy from the Debian packages,
//! started in the foreground on 127.0.0.1 with everything (config, pid,
//! logs, temp files) in a temporary directory, and stopped on drop.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (and reaped) when the test ends, however
/// it ends.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `PROGRAM ARGS…` in `dir` and returns it with the port it reports
/// on its first line (`port_from_line` reads it); `None` when it cannot
/// start or says no port (the program or a package missing).
pub(crate) fn spawn_peer(
    program: &str,
    dir: &Path,
    args: &[&str],
    port_from_line: fn(&str) -> Option<u16>,
) -> Option<(KillOnDrop, u16)> {
    use std::io::{BufRead as _, BufReader};
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut peer = KillOnDrop(child);
    let stdout = peer.0.stdout.take()?;
    // Read on a thread, so a peer that hangs before its first line fails
    // the test instead of hanging it.
    let (line_tx, first_line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(read.map(|_| line));
    });
    let line = first_line.recv_timeout(ANNOUNCE_BOUND).ok()?.ok()?;
    let port = port_from_line(&line)?;
    Some((peer, port))
}

/// How long a process we start may take to say where it listens: a debug
/// build or an interpreter loading its packages on a loaded 2-core machine
/// takes seconds, never this long.
pub(crate) const ANNOUNCE_BOUND: Duration = Duration::from_secs(30);

/// Starts `command` (a `wsdoctor` told to listen on port 0) and returns it
/// with the address it says it listens on: the first `SCHEME://HOST:PORT`
/// (`scheme` is `ws`, `wss`, `http`…) in a line of its stderr. It binds
/// before it says so, so the address is ready, and no other process can
/// take the port in between (as one picked with [`free_port`] can be). The
/// rest of its stderr is read and dropped, so it never blocks on the pipe.
pub(crate) fn spawn_listening(command: &mut Command, scheme: &str) -> (Child, SocketAddr) {
    use std::io::{BufRead as _, BufReader};
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Once the address is found nobody listens: keep draining.
            let _ = lines_tx.send(line);
        }
    });
    let prefix = format!("{scheme}://");
    let deadline = Instant::now() + ANNOUNCE_BOUND;
    let mut said = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("no {prefix} address on stderr ({e}; {status:?}) from {command:?}:\n{said}");
            }
        };
        let addr = line.split_once(&prefix).and_then(|(_, rest)| {
            rest.split(|c: char| c == '/' || c.is_whitespace())
                .next()?
                .parse::<SocketAddr>()
                .ok()
        });
        if let Some(addr) = addr {
            return (child, addr);
        }
        said.push_str(&line);
        said.push('\n');
    }
}

/// Starts `python3 -u ARGS…` in the repository root (see [`spawn_peer`]).
pub(crate) fn python_peer(
    args: &[&str],
    port_from_line: fn(&str) -> Option<u16>,
) -> Option<(KillOnDrop, u16)> {
    let args = [&["-u"], args].concat();
    spawn_peer(
        "python3",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &args,
        port_from_line,
    )
}

/// The npm peers' directory (`npm ci` there installs them).
const NODE_PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/node");

/// Whether the npm peers (tests/peers/node) are installed: a skip when not,
/// which fails under CI.
pub(crate) fn node_peers_installed() -> bool {
    if Path::new(NODE_PEERS).join("node_modules").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run `npm ci` in tests/peers/node (see .ci/run)"
    );
    eprintln!("skipped: tests/peers/node/node_modules is missing (npm ci there)");
    false
}

/// Starts `node SCRIPT ARGS…` among the npm peers and returns it with the
/// port it prints. Skips (`None`) when the peers are not installed, which
/// fails under CI; a peer that starts but reports no port fails the test.
pub(crate) fn node_peer(
    script: &str,
    args: &[&str],
    port_from_line: fn(&str) -> Option<u16>,
) -> Option<(KillOnDrop, SocketAddr)> {
    if !node_peers_installed() {
        return None;
    }
    let args = [&[script], args].concat();
    let (peer, port) = spawn_peer("node", Path::new(NODE_PEERS), &args, port_from_line)
        .unwrap_or_else(|| panic!("node {script} did not start or said no port"));
    Some((peer, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// The port a peer prints as `listening PORT` (the npm peers' first line).
pub(crate) fn listening_port(line: &str) -> Option<u16> {
    line.trim().strip_prefix("listening ")?.parse().ok()
}

/// The tests' own `wsdoctor` binary, with colour off (text reports are
/// read as text).
pub(crate) fn wsdoctor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsdoctor"));
    command.env("NO_COLOR", "1");
    command
}

/// Runs `wsdoctor ARGS…` (which must include `--json`) and returns its exit
/// code and its report, checked against the schema.
pub(crate) fn wsdoctor_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = wsdoctor().args(args).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    schema_validate(&report);
    (out.status.code().unwrap_or(-1), report)
}

/// The ids of a report's findings, in order.
pub(crate) fn finding_ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Fails the test unless `report` follows `schema/report.schema.json`.
pub(crate) fn schema_validate(report: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "not the schema: {errors:#?}");
}

/// A proxy process that is killed when dropped.
pub(crate) struct Proxy {
    _child: KillOnDrop,
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Writes `conf` into `dir` as `name`, starts `bin FLAGS… CONF-PATH` in the
/// foreground and waits for it to listen on 127.0.0.1:`port`.
fn start_proxy(
    bin: &str,
    flags: &[&str],
    dir: tempfile::TempDir,
    name: &str,
    conf: &str,
    port: u16,
) -> Proxy {
    let path = dir.path().join(name);
    std::fs::write(&path, conf).unwrap();
    // Killed even when it never comes up and the wait below panics.
    let mut child = KillOnDrop(
        Command::new(bin)
            .args(flags)
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr, &mut child.0);
    Proxy {
        _child: child,
        addr,
        _dir: dir,
    }
}

/// Headless Chromium as root on a machine with no outside network: without
/// the background-networking flags it keeps trying Google's hosts.
pub(crate) const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A port that was free a moment ago (nginx and HAProxy cannot report an
/// ephemeral port back to us, so we pick one).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The instance (`serve --instance`, or the one it made up) that answers
/// `GET /whoami` on a new connection to `port`; `None` when none does.
pub(crate) fn whoami(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    tcp.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).ok()?;
    let body = answer.split("\r\n\r\n").nth(1)?;
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["instance"].as_str().map(str::to_owned)
}

/// The instances that answered `GET /whoami` on `port`, asked until `n`
/// distinct ones have or 10 s have passed: a `serve --procs N` group's
/// workers bind after the parent says it listens, and until they do every
/// connection goes to the parent.
pub(crate) fn instances_answering(port: u16, n: usize) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < n && Instant::now() < deadline {
        match whoami(port) {
            Some(instance) => {
                seen.insert(instance);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    seen
}

/// Finds a binary in the usual sbin paths, which a non-login PATH may lack.
pub(crate) fn binary(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|p| Path::new(p).exists())
}

/// The binary, or a skip (a failure under CI, which must have installed it).
pub(crate) fn require(name: &str) -> Option<String> {
    let found = binary(name);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {name} (see .ci/run)"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

fn wait_listening(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("proxy exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("proxy did not listen on {addr}");
}

/// nginx proxying WebSockets to `upstream`, with `extra` directives inside the location.
pub(crate) fn nginx(upstream: SocketAddr, extra: &str) -> Option<Proxy> {
    nginx_with(upstream, extra, "worker_connections 256;")
}

/// As [`nginx`], with the `events` block's directives given.
pub(crate) fn nginx_with(upstream: SocketAddr, extra: &str, events: &str) -> Option<Proxy> {
    let bin = require("nginx")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = dir.path().display();
    let conf = format!(
        r#"
daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ {events} }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            {extra}
        }}
    }}
}}
"#
    );
    Some(start_proxy(
        &bin,
        &["-p", &p.to_string(), "-c"],
        dir,
        "nginx.conf",
        &conf,
        port,
    ))
}

/// nginx with `server` as its one server block (it must listen on
/// 127.0.0.1:`port`; `{dir}` in it is nginx's temporary directory, where
/// `files` are written first as (name, contents)).
pub(crate) fn nginx_server(server: &str, port: u16, files: &[(&str, &[u8])]) -> Option<Proxy> {
    let bin = require("nginx")?;
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let p = dir.path().display().to_string();
    let server = server.replace("{dir}", &p);
    let conf = format!(
        r#"
daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    {server}
}}
"#
    );
    Some(start_proxy(
        &bin,
        &["-p", &p, "-c"],
        dir,
        "nginx.conf",
        &conf,
        port,
    ))
}

/// HAProxy in HTTP mode in front of `upstream`, with `timeouts` (e.g. `timeout tunnel 3s`).
pub(crate) fn haproxy(upstream: SocketAddr, timeouts: &str) -> Option<Proxy> {
    haproxy_balancing(&[upstream], "roundrobin", timeouts)
}

/// HAProxy spreading over several `upstreams` with `balance {balance}`
/// (`roundrobin`, `source`, …).
pub(crate) fn haproxy_balancing(
    upstreams: &[SocketAddr],
    balance: &str,
    timeouts: &str,
) -> Option<Proxy> {
    let bin = require("haproxy")?;
    let servers: String = upstreams
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("    server lab{} {addr}\n", i + 1))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = format!(
        r#"
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    {timeouts}
frontend web
    bind 127.0.0.1:{port}
    default_backend lab
backend lab
    balance {balance}
{servers}"#
    );
    Some(start_proxy(
        &bin,
        &["-db", "-f"],
        dir,
        "haproxy.cfg",
        &conf,
        port,
    ))
}

/// HAProxy with `conf` as its whole configuration (it must bind
/// 127.0.0.1:`port`; `{dir}` in it is its temporary directory, where `files`
/// are written first as (name, contents)).
pub(crate) fn haproxy_conf(conf: &str, port: u16, files: &[(&str, &[u8])]) -> Option<Proxy> {
    let bin = require("haproxy")?;
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let conf = conf.replace("{dir}", &dir.path().display().to_string());
    Some(start_proxy(
        &bin,
        &["-db", "-f"],
        dir,
        "haproxy.cfg",
        &conf,
        port,
    ))
}

/// tinyproxy, an HTTP CONNECT forward proxy, on 127.0.0.1 allowing
/// 127.0.0.1, with `extra` config lines (`ConnectPort 443`, `BasicAuth u p`).
pub(crate) fn tinyproxy(extra: &str) -> Option<Proxy> {
    let bin = require("tinyproxy")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 600\nAllow 127.0.0.1\nMaxClients 20\n\
         LogLevel Warning\n{extra}\n"
    );
    // -d: stay in the foreground, so the child is the proxy itself.
    Some(start_proxy(
        &bin,
        &["-d", "-c"],
        dir,
        "tinyproxy.conf",
        &conf,
        port,
    ))
}

/// Runs `openssl ARGS` in `dir` (certificates made as people make them);
/// a failure fails the test with what openssl said.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! The listening socket every lab server opens: `serve`, `lab` and the lab
//! proxy queue the same number of connection attempts.

use std::net::SocketAddr;

/// How many connection attempts the kernel queues before `accept`: tokio's
/// default (1,024) overflows when thousands of clients open at once, and an overflow costs a client a 1 s SYN retransmit or a
/// failed connect (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 8192;

/// A non-blocking listener on `addr` with [`LISTEN_BACKLOG`]; `reuse_port`
/// lets several processes accept on one port.
pub(crate) fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// The same, as a tokio listener (inside a runtime).
pub(crate) fn listen_tokio(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::from_std(listen(addr, false)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
mod tests {
    use super::*;
    use crate::{LabConfig, LabProxy, LabServer, ProxyConfig};

    /// The backlog of the listener on `port` as the kernel reports it
    /// (`ss -lnt` shows it as Send-Q), or `None` without `ss`.
    fn backlog(port: u16) -> Option<i64> {
        let out = std::process::Command::new("ss")
            .args(["-lnt"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains(&format!("127.0.0.1:{port} ")))?;
        line.split_whitespace().nth(2)?.parse().ok()
    }

    #[tokio::test]
    async fn lab_and_its_proxy_queue_as_many_connections_as_serve() {
        let somaxconn: i64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let expected = i64::from(LISTEN_BACKLOG).min(somaxconn);
        let lab = LabServer::start(LabConfig::default()).await.unwrap();
        let proxy = LabProxy::start(ProxyConfig::new(lab.addr())).await.unwrap();
        for port in [lab.addr().port(), proxy.addr().port()] {
            let Some(queued) = backlog(port) else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must install ss (iproute2)"
                );
                eprintln!("skipped: ss is not installed");
                return;
            };
            // tokio's default was 1,024: 170 of a 5,000-connection burst failed.
            assert_eq!(queued, expected, "port {port}");
        }
    }
}

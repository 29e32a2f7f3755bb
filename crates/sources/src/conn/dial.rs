//! DNS and TCP connect, each timed and each failure classified; with a
//! forward proxy, to the proxy, then the tunnel through it.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::time::timeout_at;
use wsdoctor_evidence::{ConnectionEnd, ConnectionRecord, LocalResource};

use super::{micros_since, ConnectOptions, OpenError};

/// Where a TCP connection goes: the target, or the forward proxy.
struct Endpoint<'a> {
    host: &'a str,
    ip: Option<std::net::IpAddr>,
    port: u16,
}

/// Resolves the target and connects to the first address that answers;
/// with a forward proxy, resolves and connects to the proxy instead and
/// opens the tunnel to the target (`resolved` and `peer_addr` are then the
/// proxy's). Returns why when the target could not be reached.
pub(crate) async fn dial(
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<TcpStream, OpenError> {
    let target = &options.target;
    let Some(proxy) = &options.proxy else {
        // `--connect-to` may send the connection elsewhere; SNI and Host
        // stay the target's.
        let (host, port) = options.route.connect_to(&target.host, target.port);
        let ip = if host == target.host {
            target.ip
        } else {
            host.parse().ok()
        };
        let endpoint = Endpoint { host, ip, port };
        return dial_endpoint(&endpoint, options, origin, record).await;
    };
    record.forward_proxy = Some(proxy.record());
    let endpoint = Endpoint {
        host: &proxy.host,
        ip: proxy.ip,
        port: proxy.port,
    };
    let mut tcp = dial_endpoint(&endpoint, options, origin, record).await?;
    // The proxy's own DNS and connect to the target happen inside the
    // tunnel request: it gets a connect budget of its own.
    let deadline = tokio::time::Instant::now() + options.connect_timeout;
    match super::proxy::tunnel(&mut tcp, proxy, target, deadline, record).await {
        Ok(()) => {
            record.phases.proxy_tunnel_done_us = Some(micros_since(origin, Instant::now()));
            Ok(tcp)
        }
        Err(end) => Err(OpenError::Proxy(end)),
    }
}

async fn dial_endpoint(
    endpoint: &Endpoint<'_>,
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<TcpStream, OpenError> {
    let deadline = tokio::time::Instant::from_std(origin + options.connect_timeout);
    let pinned = options
        .route
        .resolve(endpoint.host, endpoint.port)
        .map(<[_]>::to_vec)
        .or_else(|| endpoint.ip.map(|ip| vec![ip]));
    let addrs: Vec<SocketAddr> = match pinned {
        Some(ips) => ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, endpoint.port))
            .collect(),
        None => {
            let lookup = tokio::net::lookup_host((endpoint.host, endpoint.port));
            let result = timeout_at(deadline, lookup).await;
            record.phases.dns_done_us = Some(micros_since(origin, Instant::now()));
            let error = match result {
                Ok(Ok(found)) => {
                    let all: Vec<SocketAddr> = found.collect();
                    let found = options.route.filter(all.clone());
                    if all.is_empty() {
                        "no addresses".to_owned()
                    } else if found.is_empty() {
                        no_address_of_family(options, &all)
                    } else {
                        found_into(record, &found);
                        return connect_any(&found, deadline, endpoint, options, origin, record)
                            .await;
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "no answer within {} ms",
                    options.connect_timeout.as_millis()
                ),
            };
            return Err(OpenError::NameResolution {
                host: endpoint.host.to_owned(),
                error,
            });
        }
    };
    let kept = options.route.filter(addrs.clone());
    if kept.is_empty() {
        return Err(OpenError::NameResolution {
            host: endpoint.host.to_owned(),
            error: no_address_of_family(options, &addrs),
        });
    }
    found_into(record, &kept);
    connect_any(&kept, deadline, endpoint, options, origin, record).await
}

/// Says that `-4`/`-6` left none of `addrs`.
fn no_address_of_family(options: &ConnectOptions, addrs: &[SocketAddr]) -> String {
    let flag = options.route.family.map_or("", |f| f.flag());
    let found: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    format!(
        "no address of the family {flag} asks for (found {})",
        found.join(", ")
    )
}

fn found_into(record: &mut ConnectionRecord, addrs: &[SocketAddr]) {
    record.resolved = addrs.iter().map(|a| a.ip().to_string()).collect();
}

async fn connect_any(
    addrs: &[SocketAddr],
    deadline: tokio::time::Instant,
    endpoint: &Endpoint<'_>,
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<TcpStream, OpenError> {
    let mut last_end = None;
    for addr in addrs {
        match timeout_at(deadline, connect_from(options.bind_ip, *addr)).await {
            Ok(Ok(stream)) => {
                record.phases.connect_done_us = Some(micros_since(origin, Instant::now()));
                record.peer_addr = Some(addr.to_string());
                // Small control frames must leave at once for honest RTTs.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last_end = Some(classify_connect_error(*addr, &e, origin)),
            Err(_) => {
                last_end = Some(ConnectionEnd::ConnectTimedOut {
                    addr: addr.to_string(),
                    after_ms: u64::try_from(options.connect_timeout.as_millis())
                        .unwrap_or(u64::MAX),
                });
                break;
            }
        }
    }
    let end = last_end.unwrap_or_else(|| ConnectionEnd::ConnectFailed {
        addr: endpoint.host.to_owned(),
        error: "no address to connect to".to_owned(),
    });
    Err(OpenError::Connect(end))
}

pub(crate) fn classify_connect_error(
    addr: SocketAddr,
    e: &io::Error,
    origin: Instant,
) -> ConnectionEnd {
    if let Some(resource) = e.raw_os_error().and_then(LocalResource::from_os_error) {
        return ConnectionEnd::LocalLimit {
            resource,
            error: e.to_string(),
        };
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectionEnd::ConnectRefused {
            addr: addr.to_string(),
        },
        // The kernel gave up on the SYN before our own deadline did.
        io::ErrorKind::TimedOut => ConnectionEnd::ConnectTimedOut {
            addr: addr.to_string(),
            after_ms: micros_since(origin, Instant::now()) / 1000,
        },
        _ => ConnectionEnd::ConnectFailed {
            addr: addr.to_string(),
            error: e.to_string(),
        },
    }
}

/// Connects to `addr`, from `bind_ip` when given (port chosen by the kernel).
async fn connect_from(
    bind_ip: Option<std::net::IpAddr>,
    addr: SocketAddr,
) -> io::Result<TcpStream> {
    let Some(ip) = bind_ip else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Asks the kernel to choose the source port at `connect(2)` rather than at
/// `bind(2)` (`IP_BIND_ADDRESS_NO_PORT`, Linux 4.2+). A bind to port 0 has
/// to find a port no other socket on that address holds, whoever it talks
/// to; at connect the port only has to make the four-tuple unique, so one
/// source address can reach many servers from the same ports, and the
/// search stays cheap as the range fills. Where the option does not exist
/// the bind works as before.
pub(crate) fn bind_address_no_port(socket: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    {
        let on: libc::c_int = 1;
        #[allow(unsafe_code)]
        // SAFETY: a plain setsockopt on a descriptor the caller owns, with
        // a pointer to a c_int that lives for the call and its exact size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                std::ptr::addr_of!(on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

//! SOCKS5 (RFC 1928), with username/password authentication (RFC 1929):
//! method selection, authentication, CONNECT; each answer is read with
//! `read_exact` of the sizes the RFC fixes, so a hostile proxy cannot make
//! us buffer more than 255 + 6 bytes.

use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsdoctor_evidence::{ConnectionEnd, ForwardProxyRecord, ProxyKind, SocksReply};

use super::{io_failed, Credentials, ForwardProxy};
use crate::conn::Target;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xFF;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// What a CONNECT reply code means (RFC 1928 §6).
pub(crate) fn reply_meaning(code: u8) -> &'static str {
    match code {
        0x00 => "succeeded",
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unassigned code",
    }
}

/// Runs the SOCKS5 exchange on `tcp`, recording the last answer.
pub(super) async fn connect(
    tcp: &mut TcpStream,
    proxy: &ForwardProxy,
    target: &Target,
    record: &mut ForwardProxyRecord,
) -> Result<(), ConnectionEnd> {
    // The address goes first: a local lookup failure is the target's DNS,
    // not the proxy's fault, and must not leave a half-spoken exchange.
    let address = address(proxy, target).await?;
    choose_method(tcp, proxy, record).await?;
    request_connect(tcp, proxy, target, &address, record).await
}

/// The proxy spoke, but not SOCKS5 as RFC 1928 has it.
fn failed(proxy: &ForwardProxy, error: String) -> ConnectionEnd {
    ConnectionEnd::ProxyFailed {
        proxy: proxy.redacted.clone(),
        error,
    }
}

/// The proxy said no at `step`: recorded, and the end of the connection.
fn refused(
    proxy: &ForwardProxy,
    record: &mut ForwardProxyRecord,
    step: &str,
    code: u8,
    meaning: &str,
) -> ConnectionEnd {
    let reply = SocksReply {
        step: step.to_owned(),
        code,
        meaning: meaning.to_owned(),
    };
    let answer = format!("SOCKS5 {step} reply 0x{code:02x} ({meaning})");
    record.socks = Some(reply);
    ConnectionEnd::ProxyRefused {
        proxy: proxy.redacted.clone(),
        answer,
        status: None,
    }
}

/// The greeting and the proxy's choice of method, authenticating when it
/// chose user/password.
async fn choose_method(
    tcp: &mut TcpStream,
    proxy: &ForwardProxy,
    record: &mut ForwardProxyRecord,
) -> Result<(), ConnectionEnd> {
    let greeting: &[u8] = if proxy.credentials.is_some() {
        &[VERSION, 2, NO_AUTH, USER_PASSWORD]
    } else {
        &[VERSION, 1, NO_AUTH]
    };
    tcp.write_all(greeting)
        .await
        .map_err(|e| io_failed(proxy, "while we sent the SOCKS5 greeting", &e))?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice)
        .await
        .map_err(|e| io_failed(proxy, "before choosing a SOCKS5 method", &e))?;
    if choice[0] != VERSION {
        return Err(failed(
            proxy,
            format!(
                "the answer to the SOCKS5 greeting starts with 0x{:02x}, not version 5 (is this \
                 a SOCKS5 port?)",
                choice[0]
            ),
        ));
    }
    match (choice[1], &proxy.credentials) {
        (NO_AUTH, _) => Ok(()),
        (USER_PASSWORD, Some(c)) => authenticate(tcp, proxy, c, record).await,
        (NO_ACCEPTABLE, creds) => {
            let meaning = if creds.is_some() {
                "no acceptable authentication method: the proxy accepts neither none nor user/password"
            } else {
                "no acceptable authentication method: the proxy wants credentials (user:password@ in the proxy URL)"
            };
            Err(refused(proxy, record, "method", NO_ACCEPTABLE, meaning))
        }
        (other, _) => Err(failed(
            proxy,
            format!("the proxy chose SOCKS5 method 0x{other:02x}, which we did not offer"),
        )),
    }
}

/// User/password authentication (RFC 1929).
async fn authenticate(
    tcp: &mut TcpStream,
    proxy: &ForwardProxy,
    credentials: &Credentials,
    record: &mut ForwardProxyRecord,
) -> Result<(), ConnectionEnd> {
    let mut auth = vec![1, len_u8(&credentials.user)];
    auth.extend_from_slice(credentials.user.as_bytes());
    auth.push(len_u8(&credentials.password));
    auth.extend_from_slice(credentials.password.as_bytes());
    tcp.write_all(&auth)
        .await
        .map_err(|e| io_failed(proxy, "while we sent SOCKS5 credentials", &e))?;
    let mut status = [0u8; 2];
    tcp.read_exact(&mut status)
        .await
        .map_err(|e| io_failed(proxy, "before answering our SOCKS5 credentials", &e))?;
    if status[1] != 0 {
        return Err(refused(
            proxy,
            record,
            "auth",
            status[1],
            "user name or password rejected (RFC 1929)",
        ));
    }
    Ok(())
}

/// CONNECT to `address` and the proxy's reply, whose bound address is read
/// and dropped so the tunnel starts clean.
async fn request_connect(
    tcp: &mut TcpStream,
    proxy: &ForwardProxy,
    target: &Target,
    address: &[u8],
    record: &mut ForwardProxyRecord,
) -> Result<(), ConnectionEnd> {
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    request.extend_from_slice(address);
    request.extend_from_slice(&target.port.to_be_bytes());
    tcp.write_all(&request)
        .await
        .map_err(|e| io_failed(proxy, "while we sent SOCKS5 CONNECT", &e))?;
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head)
        .await
        .map_err(|e| io_failed(proxy, "before answering SOCKS5 CONNECT", &e))?;
    if head[0] != VERSION {
        return Err(failed(
            proxy,
            format!(
                "the SOCKS5 CONNECT reply starts with 0x{:02x}, not version 5",
                head[0]
            ),
        ));
    }
    let code = head[1];
    if code != 0 {
        return Err(refused(proxy, record, "connect", code, reply_meaning(code)));
    }
    let rest = match head[3] {
        ATYP_V4 => 4 + 2,
        ATYP_V6 => 16 + 2,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len)
                .await
                .map_err(|e| io_failed(proxy, "in the SOCKS5 CONNECT reply", &e))?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(failed(
                proxy,
                format!(
                    "the SOCKS5 CONNECT reply has address type 0x{other:02x}, which RFC 1928 \
                     does not define"
                ),
            ))
        }
    };
    let mut bound = vec![0u8; rest];
    tcp.read_exact(&mut bound)
        .await
        .map_err(|e| io_failed(proxy, "in the SOCKS5 CONNECT reply", &e))?;
    record.socks = Some(SocksReply {
        step: "connect".to_owned(),
        code,
        meaning: reply_meaning(code).to_owned(),
    });
    Ok(())
}

fn len_u8(text: &str) -> u8 {
    // Lengths were checked when the proxy URL was parsed.
    u8::try_from(text.len()).unwrap_or(u8::MAX)
}

/// `ATYP` and the address: the name for `socks5h://` (the proxy resolves
/// it), an address resolved here for `socks5://`.
async fn address(proxy: &ForwardProxy, target: &Target) -> Result<Vec<u8>, ConnectionEnd> {
    let ip = match target.ip {
        Some(ip) => ip,
        None if proxy.kind == ProxyKind::Socks5h => {
            let name = target.host.as_bytes();
            let Ok(len) = u8::try_from(name.len()) else {
                return Err(ConnectionEnd::ProxyFailed {
                    proxy: proxy.redacted.clone(),
                    error: "the target's host name is longer than SOCKS5's 255 bytes".to_owned(),
                });
            };
            let mut out = vec![ATYP_DOMAIN, len];
            out.extend_from_slice(name);
            return Ok(out);
        }
        None => {
            let found = tokio::net::lookup_host((target.host.as_str(), target.port)).await;
            let first = match found {
                Ok(mut addrs) => addrs.next().map(|a| a.ip()),
                Err(e) => {
                    return Err(ConnectionEnd::DnsFailed {
                        host: target.host.clone(),
                        error: e.to_string(),
                    })
                }
            };
            let Some(ip) = first else {
                return Err(ConnectionEnd::DnsFailed {
                    host: target.host.clone(),
                    error: "no addresses".to_owned(),
                });
            };
            ip
        }
    };
    Ok(match ip {
        IpAddr::V4(a) => [&[ATYP_V4][..], &a.octets()].concat(),
        IpAddr::V6(a) => [&[ATYP_V6][..], &a.octets()].concat(),
    })
}

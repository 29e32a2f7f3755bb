//! Entry points for the fuzz targets (`fuzz/` and `crates/fuzz-targets`):
//! crate-private parsers of peer input, reachable from outside without
//! making their modules public. Not an API: nothing here is stable. (The
//! deflate entry points are the wire crate's: `wsdoctor_wire::fuzzing`.)

use wsdoctor_evidence::{ConnectionEnd, ConnectionRecord};

use crate::conn::{ForwardProxy, Target};

/// Asks the proxy at the other end of `tcp` for a tunnel to `target` (HTTP
/// CONNECT or SOCKS5, by the proxy's kind), as every connecting command
/// does; the answer is recorded in `record.forward_proxy`.
pub async fn tunnel(
    tcp: &mut tokio::net::TcpStream,
    proxy: &ForwardProxy,
    target: &Target,
    deadline: tokio::time::Instant,
    record: &mut ConnectionRecord,
) -> Result<(), ConnectionEnd> {
    crate::conn::proxy::tunnel(tcp, proxy, target, deadline, record).await
}

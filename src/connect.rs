//! The shared connection flags (`cli::ConnectArgs`) turned into validated
//! options for one URL, as every command that connects needs them.

use wsdoctor_sources::conn::route::IpFamily;
use wsdoctor_sources::conn::{
    ConnectOptions, ForwardProxy, HeaderLine, HttpVersion, Route, Target, TlsOptions,
};

use crate::cli::ConnectArgs;

/// Turns the shared connection flags into validated options for one URL.
pub(crate) fn connect_options(url: &str, args: &ConnectArgs) -> anyhow::Result<ConnectOptions> {
    let target = Target::parse(url)?;
    let mut tls = TlsOptions {
        insecure: args.insecure,
        ..TlsOptions::default()
    };
    if let Some(path) = &args.ca_cert {
        tls.add_ca_file(path)?;
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        tls.set_client_certificate(cert, key)?;
    }
    // As curl and browsers: the variable names where TLS secrets go.
    if let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) {
        tls.log_keys_to(std::path::Path::new(&path))?;
    }
    let headers = args
        .headers
        .iter()
        .map(|h| h.parse::<HeaderLine>().map(HeaderLine::into_pair))
        .collect::<Result<Vec<_>, _>>()?;
    let proxy = if args.no_proxy {
        None
    } else if let Some(url) = &args.proxy {
        Some(ForwardProxy::parse(url, "flag")?)
    } else {
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        wsdoctor_sources::conn::proxy::from_env(&target, &env)?
    };
    let mut options = ConnectOptions::new(target);
    options.proxy = proxy;
    options.headers = headers;
    options.origin.clone_from(&args.origin);
    options.subprotocols.clone_from(&args.subprotocols);
    options.connect_timeout = args.connect_timeout;
    options.tls = tls;
    // `--http1` is the default spelled out; only `--http2` changes the path.
    options.http = if args.http2 && !args.http1 {
        HttpVersion::Http2
    } else {
        HttpVersion::Http1
    };
    options.deflate = args.deflate;
    options.route = Route {
        resolve: args.resolve.clone(),
        connect_to: args.connect_to.clone(),
        family: match (args.ipv4, args.ipv6) {
            (true, _) => Some(IpFamily::V4),
            (false, true) => Some(IpFamily::V6),
            (false, false) => None,
        },
    };
    options
        .route
        .check(options.target.ip, options.proxy.is_some())?;
    Ok(options)
}

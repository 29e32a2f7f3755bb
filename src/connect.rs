//! The shared connection flags (`cli::ConnectArgs`) turned into validated
//! options for one URL, as every command that connects needs them.

use anyhow::bail;
use wsdoctor_sources::conn::route::IpFamily;
use wsdoctor_sources::conn::{
    ConnectOptions, ForwardProxy, HttpVersion, Route, Target, TlsOptions,
};

use crate::cli::ConnectArgs;

/// Validates a `-H 'Name: value'` argument.
pub(crate) fn parse_header(raw: &str) -> anyhow::Result<(String, String)> {
    // Errors quote the first word only: the rest may be a credential
    // (`-H 'Authorization Bearer X'`).
    let Some((name, value)) = raw.split_once(':') else {
        bail!(
            "header '{}' has no ':'; write it as -H 'Name: value'",
            first_word(raw)
        );
    };
    let name = name.trim();
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        bail!("'{}' is not a valid HTTP header name", first_word(name));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        bail!("the value of header '{name}' contains a line break");
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// The first word of a header argument, with "…" when more follows.
fn first_word(raw: &str) -> String {
    let mut words = raw.split_whitespace();
    let first = words.next().unwrap_or_default();
    if words.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

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
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::parse_header;

    #[test]
    fn header_table() {
        assert_eq!(
            parse_header("Authorization: Bearer x").ok(),
            Some(("Authorization".into(), "Bearer x".into()))
        );
        assert_eq!(
            parse_header("X-A:b:c").ok(),
            Some(("X-A".into(), "b:c".into()))
        );
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\nb"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }
}

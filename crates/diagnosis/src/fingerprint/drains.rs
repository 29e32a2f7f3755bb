//! How products end the connections their old workers still hold after a
//! reload: the drain directive, its default, and how the close looks.

/// How a product ends the connections old workers still hold after a
/// reload. Derived from the kb's `max_lifetime_note` texts, which say it
/// in prose.
#[derive(Debug)]
pub struct ReloadDrain {
    /// kb id.
    pub id: &'static str,
    /// The directive that bounds the drain.
    pub directive: &'static str,
    /// Its default in seconds, if the product has one.
    pub default_s: Option<u32>,
    /// The kb entry the default comes from.
    pub default_from: &'static str,
    /// How it closes the remaining connections (kb vocabulary).
    pub close: &'static str,
    /// The kb entry that says so.
    pub close_from: &'static str,
    /// What to change.
    pub snippet: &'static str,
}

/// nginx: kb nginx.max_lifetime_note (worker_shutdown_timeout, no default,
/// "closes all open connections") and ingress-nginx.max_lifetime_note
/// (worker-shutdown-timeout default 240 s; ingress-nginx is nginx, so the
/// two are one candidate). HAProxy: kb haproxy.max_lifetime_note
/// (hard-stop-after, unset by default). Sources: nginx/nginx.org
/// xml/en/docs/ngx_core_module.xml@3924a7f8; kubernetes/ingress-nginx
/// docs/user-guide/nginx-configuration/configmap.md; haproxy/haproxy
/// doc/configuration.txt@50872daa.
pub const RELOAD_DRAINS: &[ReloadDrain] = &[
    ReloadDrain {
        id: "nginx",
        directive: "worker_shutdown_timeout (ingress-nginx: worker-shutdown-timeout, default 240 s)",
        default_s: Some(240),
        default_from: "ingress-nginx",
        close: "tcp_fin",
        close_from: "nginx.max_lifetime_note",
        snippet: "# nginx.conf (main context): how long old workers keep WebSockets after a reload\nworker_shutdown_timeout 1h;\n\n# ingress-nginx ConfigMap\ndata:\n  worker-shutdown-timeout: \"3600s\"",
    },
    ReloadDrain {
        id: "haproxy",
        directive: "hard-stop-after",
        default_s: None,
        default_from: "haproxy",
        close: "tcp_fin",
        close_from: "haproxy.max_lifetime_note",
        snippet: "global\n    hard-stop-after 1h   # how long the old process keeps tunnels after a reload",
    },
    ReloadDrain {
        id: "caddy",
        directive: "stream_close_delay (Caddy closes WebSockets with 1001 on every config reload by default)",
        default_s: None,
        default_from: "caddy",
        close: "close_frame",
        close_from: "caddy.reload_close_method",
        snippet: "reverse_proxy /ws/* backend:8080 {\n    stream_close_delay 5m\n}",
    },
];

/// The reload drain of a product, if it has one.
pub fn reload_drain(id: &str) -> Option<&'static ReloadDrain> {
    RELOAD_DRAINS.iter().find(|d| d.id == id)
}

//! What the general nginx plan ([`super::nginx`]) and its hot path
//! ([`super::nginx_fast`]) both read: nginx's `combined` format and which
//! requests are long-polling. It sits below both so neither imports the other
//! for it.

/// nginx's predefined `combined` format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// Socket.IO's and SockJS's long-polling requests share the socket path but
/// are plain HTTP; their 200s are not failed upgrades.
pub(crate) fn polling(query: &[u8]) -> bool {
    !query.is_empty() && memchr::memmem::find(query, b"transport=polling").is_some()
}

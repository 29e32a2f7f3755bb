//! Rules: evidence in, findings out. One submodule per kind of source; each
//! is a pure function of its evidence.

pub(crate) mod app;
pub mod browser;
pub(crate) mod common;
pub mod config;
pub mod idle;
pub mod load;
pub mod logs;
mod probe;
pub mod reconnect;
pub(crate) mod server_close;
pub mod sticky;
pub mod watch;

pub use probe::diagnose_probe;

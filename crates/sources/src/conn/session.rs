//! The sans-IO WebSocket session lives in [`wsdoctor_wire::session`]; it is
//! re-exported here so the shells (`driver`, `hold`) and the checks keep
//! one path to it. What stays here is the adapter that lets the session
//! speak an application protocol of `wsdoctor-app` ([`app_layer`]): the
//! wire crate knows only the [`AppLayer`] trait, never the protocols.

pub use wsdoctor_wire::session::*;

mod app;

pub use self::app::app_layer;

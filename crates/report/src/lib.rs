//! The report layer of wsdoctor: lays out findings and evidence it is given,
//! as the contract's JSON document ([`json`]), as text for a terminal
//! ([`text`]), or as a self-contained HTML page with SVG charts ([`html`]).
//!
//! It never decides anything. Which causes apply, how sure they are and in
//! which order they matter all come from `wsdoctor-diagnosis`; this crate
//! only arranges them, so the JSON and the text always say the same thing.
//!
//! Everything a peer controls (headers, reason phrases, bodies, close
//! reasons, message previews) is passed through
//! [`wsdoctor_evidence::escape_peer`] before it reaches a terminal.

pub mod html;
pub mod json;
pub mod text;

#[cfg(test)]
mod testkit;

pub use json::{Report, SchemaId, SCHEMA_ID};
pub use text::{
    render_comparison, render_explanation, render_findings, render_probe, verdict_line, Style,
};

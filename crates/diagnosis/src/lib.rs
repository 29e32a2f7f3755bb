//! The diagnosis engine: pure functions from wsdoctor evidence to findings
//! in the contract's vocabulary, backed by an embedded knowledge base of
//! intermediaries and close codes. It never does I/O.

pub mod advice;
pub mod explain;
mod finding;
pub mod fingerprint;
pub mod kb;
pub mod rules;
#[cfg(test)]
mod testkit;
mod text;

pub use advice::rank;
pub use explain::{explain, ExplainError, Explanation};
pub use finding::{CauseId, Finding, Fix, Measured, Severity, SourceKind, Verdict};
pub use fingerprint::{identify, Candidate};
pub use kb::kb;
pub use rules::diagnose_probe;

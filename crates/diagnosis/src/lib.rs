//! The diagnosis engine: pure functions from wsdoctor evidence to findings
//! in the contract's vocabulary, backed by an embedded knowledge base of
//! intermediaries and close codes. It never does I/O.

mod finding;

pub use finding::{rank, CauseId, Finding, Fix, Measured, Severity, SourceKind, Verdict};

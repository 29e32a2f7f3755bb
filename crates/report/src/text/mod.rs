//! Text for people: the probe view, the comparison table, findings and the
//! verdict line. Everything returns a `String`; the CLI decides where it
//! goes (stdout, or stderr when `--json` owns stdout) and whether colour is
//! on ([`Style`]).

mod compare;
mod explain;
mod extensions;
mod facts;
mod findings;
pub mod idle_view;
mod layout;
pub mod lint_view;
pub mod load_view;
pub mod logs_view;
mod probe;
pub mod reconnect_view;
pub mod serve_view;
mod style;
pub mod watch_view;

pub use compare::render_comparison;
pub use explain::render_explanation;
pub use findings::{render_findings, verdict_line};
pub use probe::render_probe;
pub use style::Style;

#[cfg(test)]
mod tests;

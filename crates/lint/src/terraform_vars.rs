//! Terraform variable defaults and the `var.NAME` references waiting for
//! them, kept across the files of one lint run. The run's [`crate::loader`]
//! holds them and [`crate::terraform`] fills and resolves them; they sit
//! below both so the loader does not import the Terraform reader.

use std::collections::HashMap;
use std::path::PathBuf;

use wsdoctor_evidence::config::TimerSetting;

/// A `var.NAME` reference waiting for the variable's default.
#[derive(Debug, Clone)]
pub(crate) struct PendingVar {
    /// Index of the hop in the evidence, and of its timer.
    pub(crate) hop: usize,
    pub(crate) timer: usize,
    pub(crate) dir: PathBuf,
    pub(crate) name: String,
}

/// Variable defaults and pending references, per module directory.
#[derive(Debug, Default)]
pub(crate) struct Vars {
    pub(crate) defaults: HashMap<(PathBuf, String), TimerSetting>,
    pub(crate) pending: Vec<PendingVar>,
}

//! The reading session: which files were read, what went wrong, and the
//! evidence being built. Every file goes through here, so the limits (size,
//! count) and the "read each file once" rule live in one place.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use wsdoctor_evidence::config::{
    ConfigEvidence, ConfigKind, ConfigProblem, ProblemKind, SourceFile, Span,
};

use crate::source::{self, ReadError};

/// Reading problems recorded in one run at most (see the nginx parser's
/// per-file cap for why).
const MAX_PROBLEMS: usize = 500;

/// More files than this in one run is not one config; stop reading.
const MAX_FILES: usize = 2_000;

/// One lint run's state.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    pub(crate) evidence: ConfigEvidence,
    /// Canonical paths already read (a file included twice is read once).
    read: HashSet<PathBuf>,
    /// Terraform variable defaults and references, resolved at the end.
    pub(crate) tf_vars: crate::terraform_vars::Vars,
}

/// A file's text with its display path.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub(crate) display: String,
    pub(crate) text: String,
    /// True the first time this file is read in the run.
    pub(crate) first: bool,
}

impl Loader {
    /// Adds a file's parse problems, within the run's cap.
    pub(crate) fn problems(&mut self, problems: Vec<ConfigProblem>) {
        let room = MAX_PROBLEMS.saturating_sub(self.evidence.problems.len());
        self.evidence
            .problems
            .extend(problems.into_iter().take(room));
    }

    /// True when `path` was read already in this run.
    pub(crate) fn was_read(&self, path: &Path) -> bool {
        path.canonicalize().is_ok_and(|p| self.read.contains(&p))
    }

    /// Reads a file and records it in the evidence the first time.
    pub(crate) fn read(
        &mut self,
        path: &Path,
        kind: ConfigKind,
        included_from: Option<Span>,
    ) -> Result<Text, ReadError> {
        let canonical = path.canonicalize()?;
        let display = source::display(path);
        if self.read.contains(&canonical) {
            let text = self
                .evidence
                .file(&display)
                .map(|f| f.text.clone())
                .map_or_else(|| source::read_text(path), Ok)?;
            return Ok(Text {
                display,
                text,
                first: false,
            });
        }
        if self.read.len() >= MAX_FILES {
            return Err(ReadError::Io(std::io::Error::other(format!(
                "more than {MAX_FILES} files; stopped reading"
            ))));
        }
        let text = source::read_text(path)?;
        self.read.insert(canonical);
        self.evidence.files.push(SourceFile {
            path: display.clone(),
            kind,
            included_from,
            text: text.clone(),
        });
        Ok(Text {
            display,
            text,
            first: true,
        })
    }

    /// Records a reading problem.
    pub(crate) fn problem(&mut self, kind: ProblemKind, message: impl Into<String>, span: Span) {
        if self.evidence.problems.len() >= MAX_PROBLEMS {
            return;
        }
        self.evidence.problems.push(ConfigProblem {
            kind,
            message: message.into(),
            span,
        });
    }
}

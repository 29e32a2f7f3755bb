//! Why reading logs failed. Only an input that cannot be opened or read at
//! all is an error; bad lines inside a readable file are counted and sampled
//! instead, so one corrupt line never hides a day of evidence.

use std::io;

/// A failure to read an input as a whole.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The file could not be opened.
    #[error("cannot open {path}")]
    Open {
        /// The path as given.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The first bytes could not be read (a directory, a corrupt gzip header).
    #[error("cannot read {path}")]
    Read {
        /// The path as given.
        path: String,
        /// The OS or decompression error.
        source: io::Error,
    },
    /// No format reads its first lines.
    #[error(
        "{path}: not a format wsdoctor reads (AWS ALB, nginx access or error, HAProxy, HAR); \
         name it with --format, or give nginx's log_format with --log-format"
    )]
    UnknownFormat {
        /// The path as given.
        path: String,
    },
    /// A HAR file that is not valid HAR JSON.
    #[error("{path}: not a HAR file")]
    Har {
        /// The path as given.
        path: String,
        /// Where the JSON went wrong.
        source: serde_json::Error,
    },
}

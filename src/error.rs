//! The library's error type. Every message names the file, line, field or layer at fault.

use std::path::PathBuf;

/// Errors from relulab's library functions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a named file.
    // The I/O error is part of the message, not a chained `source`, so that `{:#}` printing of
    // an anyhow chain does not repeat it.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        err: std::io::Error,
    },
    /// Malformed content, located as precisely as the format allows ("line 3, column 7",
    /// "tensor '0.weight'", "node 'Gemm_3'").
    #[error("{file}: {location}: {message}")]
    Format {
        /// The file (or "<input>").
        file: String,
        /// Where in the file.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Well-formed input that does not fit (shapes, widths, label ranges).
    #[error("{0}")]
    Invalid(String),
    /// A feature outside what relulab supports, with the reason.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }

    /// A format error at `location` in `file`.
    pub fn format(
        file: impl std::fmt::Display,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Format {
            file: file.to_string(),
            location: location.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

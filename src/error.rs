//! The library's error type. Every message names the file, line, field or layer at fault.

use std::path::PathBuf;

/// Errors from relulab's library functions. The variant is the kind of failure, so callers
/// can match on it (the Python binding maps `Io` to `OSError`, `Cancelled` to
/// `KeyboardInterrupt` and the rest to `ValueError`); the message says where and what. New
/// kinds may be added, hence `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// Well-formed input whose sizes do not fit together: widths, lengths, numbers of samples,
    /// labels or targets against the model or the data.
    #[error("{0}")]
    Shape(String),
    /// Well-formed input with a value outside its domain: a non-finite number, a negative
    /// size, a label out of range, an unknown name, options that contradict each other.
    #[error("{0}")]
    Value(String),
    /// A feature outside what relulab supports, with the reason.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Producing an output failed for a reason other than the file system: rendering,
    /// encoding or serialising.
    #[error("{0}")]
    Output(String),
    /// The caller's cancel flag stopped a long computation (the Python binding's Ctrl-C).
    #[error("{0}")]
    Cancelled(String),
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

    /// The same error with `file` named at the front of its message (for errors raised before
    /// the file was known: shape, value, unsupported and output errors). Others are returned
    /// unchanged: they already name their file.
    pub fn in_file(self, file: &std::path::Path) -> Self {
        self.prefixed(file.display())
    }

    /// The same error with `what` (a file, a data set's name) at the front of its message,
    /// for the kinds whose message does not already name its source (see [`Error::in_file`]).
    pub fn prefixed(self, what: impl std::fmt::Display) -> Self {
        let at = |m: String| format!("{what}: {m}");
        match self {
            Error::Shape(m) => Error::Shape(at(m)),
            Error::Value(m) => Error::Value(at(m)),
            Error::Unsupported(m) => Error::Unsupported(at(m)),
            Error::Output(m) => Error::Output(at(m)),
            other => other,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `FileError`: why one of mosquitto's line-based text files (mosquitto.conf, the ACL
//! file, the password file) could not be used, and `load`, the one read-then-parse step
//! that names the file in the error. Must not know any file's syntax.

use std::path::Path;

/// A file that could not be read, or a line in it that mosquitto would refuse.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read or written.
    #[error("{what}{path}: {cause}")]
    Io {
        /// What the file is, as a message prefix (`"cannot read config file "`), or empty.
        what: &'static str,
        /// The file concerned.
        path: String,
        /// The underlying error (in the message, so not a `source`: printed once).
        cause: std::io::Error,
    },
    /// A line mosquitto would refuse.
    #[error("{path}line {line}: {reason}")]
    Line {
        /// `"FILE: "` once known (`load`), empty while parsing text.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, and what would be right.
        reason: String,
    },
}

impl FileError {
    /// A bad line of text whose file is not known yet.
    pub fn line(line: usize, reason: String) -> FileError {
        FileError::Line {
            path: String::new(),
            line,
            reason,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, cause: std::io::Error) -> FileError {
        FileError::Io {
            what: "",
            path: path.display().to_string(),
            cause,
        }
    }
}

/// Reads `path` and parses its text, naming the file in any error. `what` prefixes the
/// message of a read error (`"cannot read config file "`, or empty).
pub fn load<T>(
    path: &Path,
    what: &'static str,
    parse: impl FnOnce(&str) -> Result<T, FileError>,
) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| FileError::Io {
        what,
        path: path.display().to_string(),
        cause,
    })?;
    parse(&text).map_err(|e| match e {
        FileError::Line { line, reason, .. } => FileError::Line {
            path: format!("{}: ", path.display()),
            line,
            reason,
        },
        other => other,
    })
}

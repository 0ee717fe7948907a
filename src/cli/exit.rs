//! `Exit`, the error that carries an exit status other than 1 to `main`. Must not print.

use std::fmt;

/// An error that ends `mqtk` with a given exit status. `main` looks for it in the error
/// chain: `message` is printed as `mqtk: MESSAGE` (nothing when `None`), then the
/// process exits with `code`. Use it for statuses other than 1, e.g. 27 for `sub -W`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The process exit status.
    pub code: i32,
    /// What to print on stderr, without the `mqtk: ` prefix; `None` prints nothing.
    pub message: Option<String>,
}

impl Exit {
    /// Exit with `code` after printing `mqtk: MESSAGE`.
    pub fn new(code: i32, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: Some(message.into()),
        }
    }

    /// Exit with `code` and print nothing.
    pub fn silent(code: i32) -> Exit {
        Exit {
            code,
            message: None,
        }
    }

    /// The stub of a subcommand that is not written yet: exit status 2.
    pub fn not_implemented(subcommand: &str) -> Exit {
        Exit::new(2, format!("`mqtk {subcommand}` is not implemented yet"))
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

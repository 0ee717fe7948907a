//! The only writer to stdout and stderr: message formats, `--debug` lines, progress.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::io::{self, Write};

/// Writes `line` and a newline to stdout and flushes.
pub fn stdout_line(line: impl AsRef<[u8]>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_ref())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Prints one log line on stderr as it is (`serve -v`).
pub fn log_line(line: impl Display) {
    eprintln!("{line}");
}

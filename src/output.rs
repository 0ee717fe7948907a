//! The only writer to stdout and stderr: message formats, `--debug` lines, progress.

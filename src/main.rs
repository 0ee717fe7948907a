//! `mqtk`: parse, dispatch, and the one place that prints an error and picks the exit code.

fn main() {}

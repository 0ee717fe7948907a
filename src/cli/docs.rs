//! Shell completions generated from the clap definitions (`mqtk completions SHELL`).
//! The man pages come from the same definitions but are rendered outside the library
//! (examples/gen-man/man_pages.rs), so the binary does not carry clap_mangen.
//! Must not hold any help text of its own: everything comes from `Cli`.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CompletionsArgs};
use crate::output;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mqtk", &mut buf);
    buf
}

/// Runs `mqtk completions SHELL`.
pub fn run_completions(args: CompletionsArgs) -> anyhow::Result<()> {
    output::stdout_bytes(&completions(args.shell))?;
    Ok(())
}

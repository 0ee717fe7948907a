//! Shell completions generated from the clap definitions (`mqtk completions SHELL`).
//! The man pages come from the same definitions but are rendered outside the library
//! (examples/gen-man/man_pages.rs), so the binary does not carry clap_mangen.
//! Must not hold any help text of its own: everything comes from `Cli`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::output;

/// Flags of `mqtk completions`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  mqtk completions bash > ~/.local/share/bash-completion/completions/mqtk\n  \
    mqtk completions zsh > ~/.zfunc/_mqtk\n  mqtk completions fish > ~/.config/fish/completions/mqtk.fish"
)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

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

//! Documents generated from the clap definitions: shell completions
//! (`mqtk completions SHELL`) and man pages (`mqtk __man DIR`, used by scripts/gen-man).
//! Must not hold any help text of its own: everything comes from `Cli`.

use std::path::PathBuf;

use anyhow::Context;
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

/// Flags of the hidden `mqtk __man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Directory to write mqtk.1 and mqtk-SUBCOMMAND.1 into
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mqtk", &mut buf);
    buf
}

/// Every man page as (file name, roff text): `mqtk.1` and one `mqtk-NAME.1` per visible
/// subcommand. The output is deterministic (no date), so a test can compare it to man/.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    let mut render = |cmd: clap::Command| {
        let man = clap_mangen::Man::new(cmd).manual("mqtk manual");
        let mut buf = Vec::new();
        man.render(&mut buf)
            .expect("writing to a Vec<u8> cannot fail");
        pages.push((man.get_filename(), buf));
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub.clone());
    }
    render(cmd);
    pages.sort();
    pages
}

/// Runs `mqtk completions SHELL`.
pub fn run_completions(args: CompletionsArgs) -> anyhow::Result<()> {
    output::stdout_bytes(&completions(args.shell))?;
    Ok(())
}

/// Runs `mqtk __man DIR`: writes every man page into DIR.
pub fn run_man(args: ManArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    for (name, text) in man_pages() {
        let path = args.dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

//! Writes the man pages rendered from the clap definitions into the directory given as
//! the only argument (scripts/gen-man passes `man`). Not a subcommand, so it stays out
//! of `mqtk --help` and the completions.

use std::path::PathBuf;

use anyhow::Context;

mod man_pages;

fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: gen-man DIR")?
        .into();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in man_pages::man_pages() {
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

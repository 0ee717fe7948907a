//! `mqtk`: parse, dispatch, and the one place that prints an error and picks the exit
//! code. Must not hold subcommand logic (that is `cli::*::run`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;

use mqtk::cli::{
    bench, docs, options_file, passwd, profile, publish, rr, serve, subscribe, test, Cli, Command,
    Exit,
};
use mqtk::output;

fn main() {
    // `-o FILE` puts the file's options before the command line's (mosquitto's -o).
    let argv = match options_file::expand(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(err) => std::process::exit(report(&err)),
    };
    // clap prints usage errors itself and exits with status 2.
    let mut cli = Cli::parse_from(argv);
    let remote = cli.command.defaults_to_a_remote_broker();
    let applied = cli
        .command
        .connect_args_mut()
        .map(|args| profile::apply(args, remote));
    let result = match applied {
        Some(Err(err)) => Err(err),
        _ => run(cli.command),
    };
    let code = match result {
        Ok(()) => 0,
        Err(err) => report(&err),
    };
    std::process::exit(code);
}

/// Runs the subcommand.
fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Pub(args) => publish::run(args),
        Command::Rr(args) => rr::run(args),
        Command::Sub(args) => subscribe::run(args),
        Command::Bench(args) => bench::run(*args),
        Command::Serve(args) => serve::run(args),
        Command::Test(args) => test::run(args),
        Command::Passwd(args) => passwd::run(args),
        Command::Completions(args) => docs::run_completions(args),
    }
}

/// Prints `err` once and returns the exit status: the `Exit` in its chain decides the
/// status (printing nothing for a silent one); a broken pipe on stdout is a normal end
/// (status 0, no message, like ripgrep); anything else is status 1.
fn report(err: &anyhow::Error) -> i32 {
    if let Some(exit) = err.chain().find_map(|cause| cause.downcast_ref::<Exit>()) {
        let is_outermost = err.downcast_ref::<Exit>().is_some() && err.chain().count() == 1;
        if exit.message.is_some() || !is_outermost {
            output::error(err);
        }
        return exit.code;
    }
    if output::is_broken_pipe(err) {
        return 0;
    }
    output::error(err);
    1
}

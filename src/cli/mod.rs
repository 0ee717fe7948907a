//! The command line: `Cli` and the subcommand enum. The shared connection flags are
//! `connect_args::ConnectArgs` (flattened into pub, sub, rr, bench and test; `profile` lays the
//! config file under them), `exit::Exit` carries an exit status to `main`, and one
//! module per subcommand holds its `Args` and its `run`; they do not name this file, so
//! no subcommand file and this one need each other. Must not print (that is
//! `output.rs`) and must not let clap types escape below `cli/`: each `run` turns its
//! raw args into a checked config before calling into `client`, `broker` or `bench`.

pub mod bench;
pub mod connect;
pub mod connect_args;
pub mod docs;
pub mod exit;
pub mod format_args;
pub mod options_file;
pub mod passwd;
pub mod profile;
pub mod properties;
pub mod publish;
pub mod rr;
pub mod schema_args;
pub mod serve;
pub mod subscribe;
pub mod test;
pub mod values;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

pub use connect_args::ConnectArgs;
pub use exit::Exit;
pub use values::{BrokerUrl, UrlScheme};

/// Top-level description shown by `mqtk --help` and in `man mqtk`.
const ABOUT: &str = "An MQTT 3.1.1 and 5.0 toolkit: publish, subscribe, benchmark, and a broker";

const LONG_ABOUT: &str = "\
An MQTT 3.1.1 and 5.0 toolkit: publish, subscribe, benchmark, and a broker, in one binary.

Flag names follow mosquitto_pub and mosquitto_sub, so `-h` is the broker host and help is
`--help`. MQTT 5 is spoken by default, falling back to 3.1.1 when the broker refuses it.";

const AFTER_HELP: &str = "\
Examples:
  mqtk serve                                       start a broker on 127.0.0.1:1883
  mqtk sub -t 'sensors/#' -v                       print every message under sensors/
  mqtk pub -t sensors/t1 -m 21.5 -q 1              publish one message, wait for its PUBACK
  mqtk rr -t svc/echo -e reply/me -m hi -W 5       send a request, print its response
  mqtk sub --profile prod -t 'alerts/#'            connect as [profile.prod] of config.toml
  mqtk bench --publishers 10 --subscribers 10 -q 1 measure the built-in broker
  mqtk completions bash > ~/.local/share/bash-completion/completions/mqtk";

/// `mqtk`: the parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "mqtk",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish messages to a broker (like mosquitto_pub)
    #[command(name = "pub", visible_alias = "publish",
              long_about = publish::LONG_ABOUT, after_help = publish::AFTER_HELP)]
    Pub(publish::PublishArgs),
    /// Subscribe to topics and print the messages (like mosquitto_sub)
    #[command(name = "sub", visible_alias = "subscribe",
              long_about = subscribe::LONG_ABOUT, after_help = subscribe::AFTER_HELP)]
    Sub(subscribe::SubscribeArgs),
    /// Send a request and print its response (like mosquitto_rr; MQTT 5 and 3.1.1)
    #[command(long_about = rr::LONG_ABOUT, after_help = rr::AFTER_HELP)]
    Rr(rr::RrArgs),
    /// Load-test a broker with simulated publishers and subscribers
    #[command(long_about = bench::args::LONG_ABOUT, after_help = bench::args::AFTER_HELP)]
    Bench(Box<bench::args::BenchArgs>),
    /// Run an MQTT broker
    #[command(long_about = serve::LONG_ABOUT, after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Check a broker against MQTT 3.1.1 and 5.0 and report what it gets wrong
    #[command(long_about = test::LONG_ABOUT, after_help = test::AFTER_HELP)]
    Test(test::TestArgs),
    /// Manage a mosquitto password file (like mosquitto_passwd)
    #[command(long_about = passwd::LONG_ABOUT, after_help = passwd::AFTER_HELP)]
    Passwd(passwd::PasswdArgs),
    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
}

impl Command {
    /// The shared connection flags of a subcommand that connects to a broker, so that
    /// `main` lays the profile under them before `run` (a new such subcommand adds its
    /// line here).
    pub fn connect_args_mut(&mut self) -> Option<&mut ConnectArgs> {
        match self {
            Command::Pub(args) => Some(&mut args.connect),
            Command::Sub(args) => Some(&mut args.connect),
            Command::Rr(args) => Some(&mut args.connect),
            Command::Bench(args) => Some(&mut args.connect),
            Command::Test(args) => Some(&mut args.connect),
            Command::Serve(_) | Command::Passwd(_) | Command::Completions(_) => None,
        }
    }

    /// False for `bench`, which measures its built-in broker unless told otherwise, so
    /// the config file's `[default]` must not send it elsewhere (see `profile::apply`).
    pub fn defaults_to_a_remote_broker(&self) -> bool {
        !matches!(self, Command::Bench(_))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn not_implemented_exits_with_status_2_and_names_the_subcommand() {
        let exit = Exit::not_implemented("serve");
        assert_eq!(exit.code, 2);
        assert_eq!(exit.to_string(), "`mqtk serve` is not implemented yet");
    }
}

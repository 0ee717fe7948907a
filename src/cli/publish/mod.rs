//! `mqtk pub`: `run`, which turns the flags (`args`) into a checked `plan::Plan`;
//! `lines` reads stdin, `pace` spaces the messages (`--rate`, `--replay`), `produce`
//! hands them to the client and `outcome` turns the client's events into the exit
//! status. Must not print directly (use `output`).

mod args;
mod lines;
mod outcome;
mod pace;
mod plan;
mod produce;

pub use args::{PublishArgs, AFTER_HELP, LONG_ABOUT};

use super::connect;

/// Runs `mqtk pub`: checks the flags, connects, publishes (QoS 1/2 pipelined up to
/// the broker's receive maximum) and waits for every acknowledgement.
pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    let plan = plan::Plan::from_args(&args)?;
    let connection = connect::connection(&args.connect)?;
    connect::block_on(outcome::publish(plan, connection))?
}

//! The producing side of `mqtk pub`: turns the payload source into messages, paced by
//! `pace::Schedule`, and hands them to the client in order; stops at the first bad
//! line (after the ones before it) or, with --keep-going, skips it; --loop publishes
//! the input again. Must not read the client's events (that is `outcome`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;

use super::lines;
use super::pace::{Pacing, Schedule};
use super::plan::{LineFormat, LineMessage, Plan, Source};
use crate::client::{Client, ClientError};
use crate::output;
use crate::output::progress::Progress;
use crate::protocol::Publish;

/// A line that stopped the run: its number and what is wrong with it.
pub(super) struct BadLine {
    pub number: u64,
    pub error: String,
}

/// What the producer did.
#[derive(Default)]
pub(super) struct Produced {
    /// Messages handed to the client.
    pub sent: u64,
    /// Bad lines skipped with --keep-going (each one warned about).
    pub skipped: u64,
    /// The bad line that ended the run (without --keep-going).
    pub stopped: Option<BadLine>,
}

/// Hands every message to the client, then asks it to finish; returns what it did.
pub(super) async fn produce(
    client: Client,
    plan: Plan,
    handed: Arc<AtomicU64>,
) -> anyhow::Result<Produced> {
    let mut producer = Producer {
        schedule: Schedule::new(plan.pacing),
        progress: progress(&plan),
        client,
        plan,
        handed,
        produced: Produced::default(),
    };
    let outcome = producer.run().await;
    producer.progress.finish();
    // Finish what was handed over even when reading stopped early.
    let _ = producer.client.disconnect().await;
    match outcome {
        // The client task ended (its reason arrives as `Closed`): report the count.
        Err(e) if e.downcast_ref::<ClientError>().is_some() => Ok(producer.produced),
        Err(e) => Err(e),
        Ok(()) => Ok(producer.produced),
    }
}

/// Progress on a terminal for the runs that take a while: paced ones and --loop.
fn progress(plan: &Plan) -> Progress {
    let wanted = plan.pacing != Pacing::Free || plan.passes.is_some();
    let total = match plan.source {
        Source::Once(_) => Some(plan.repeat),
        Source::Lines(_) if plan.passes.is_none() => lines::stdin_file_size(),
        Source::Lines(_) => None,
    };
    Progress::new(wanted, total)
}

struct Producer {
    client: Client,
    plan: Plan,
    schedule: Schedule,
    progress: Progress,
    handed: Arc<AtomicU64>,
    produced: Produced,
}

impl Producer {
    async fn run(&mut self) -> anyhow::Result<()> {
        match &self.plan.source {
            Source::Once(payload) => {
                let message = self.plan.message(payload.clone());
                for i in 0..self.plan.repeat {
                    self.send(&message, None).await?;
                    self.progress.set_position(i + 1);
                }
                Ok(())
            }
            Source::Lines(format) => {
                let format = *format;
                let kept = self.first_pass(format).await?;
                if self.produced.stopped.is_none() {
                    self.more_passes(&kept).await?;
                }
                Ok(())
            }
        }
    }

    /// Reads stdin to its end (or its first bad line) and publishes each line; returns
    /// the messages when --loop needs them again.
    async fn first_pass(&mut self, format: LineFormat) -> anyhow::Result<Vec<LineMessage>> {
        let keep = self.plan.passes.is_some();
        let mut kept = Vec::new();
        let mut stdin = lines::stdin_lines();
        let mut number = 0u64;
        while let Some(batch) = stdin.recv().await {
            let batch = batch.context("cannot read stdin")?;
            for line in batch.lines {
                number += 1;
                if format == LineFormat::Jsonl && line.trim_ascii().is_empty() {
                    continue;
                }
                match self.plan.line_message(format, &line) {
                    Ok(message) => {
                        self.send(&message.publish, message.recorded_ns).await?;
                        if keep {
                            kept.push(message);
                        }
                    }
                    Err(error) if self.plan.keep_going => {
                        output::warning(format!("line {number}: {error}; skipped"));
                        self.produced.skipped += 1;
                    }
                    Err(error) => {
                        self.produced.stopped = Some(BadLine { number, error });
                        return Ok(kept);
                    }
                }
            }
            self.progress.set_position(batch.consumed);
        }
        Ok(kept)
    }

    /// --loop: the passes after the first, over the kept messages.
    async fn more_passes(&mut self, kept: &[LineMessage]) -> anyhow::Result<()> {
        let Some(passes) = self.plan.passes else {
            return Ok(());
        };
        if kept.is_empty() {
            return Ok(());
        }
        let mut pass = 1u64;
        while passes == 0 || pass < passes {
            pass += 1;
            self.progress.set_pass(pass);
            self.schedule.restart();
            for message in kept {
                self.send(&message.publish, message.recorded_ns).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, publish: &Publish, recorded_ns: Option<u128>) -> anyhow::Result<()> {
        self.schedule.wait(recorded_ns).await;
        self.client.publish(publish.clone()).await?;
        self.produced.sent += 1;
        self.handed.store(self.produced.sent, Ordering::Relaxed);
        self.progress.message_sent();
        Ok(())
    }
}

//! The printing side of `mqtk sub`: filters and renders messages into a batch written to
//! stdout (or onto the `-w` screen, or only counts them for `--message-rate`), samples
//! them for `--random-filter`, counts them for -C, clears retained messages for
//! `--remove-retained`, and follows the SUBACK/UNSUBACK answers for `-E` and `-U`. Must
//! not wait for events (`receive.rs` does).

use std::collections::HashSet;
use std::time::SystemTime;

use anyhow::{bail, Context};
use bytes::Bytes;
use bytestring::ByteString;

use super::plan::Plan;
use crate::cli::exit::Exit;
use crate::client::{Client, ClientError, ClientEvent};
use crate::output::live::{rate_line, WatchScreen};
use crate::output::message::{self, Received};
use crate::output::{self};
use crate::payload::sparkplug::SeqGaps;
use crate::protocol::{topic, Properties, ProtocolVersion, Publish, QoS, ReasonCode, Subscription};

/// Bytes of output gathered before they are written even though more messages wait.
const OUTPUT_BATCH: usize = 64 * 1024;

/// What the subscription does after an event.
pub(super) enum Step {
    Continue,
    /// Done (-C, --retained-only, -E, -U answered): disconnect cleanly.
    Finish,
    /// The client ended on its own, with this result.
    Closed(Result<(), ClientError>),
}

pub(super) struct Printer {
    pub plan: Plan,
    debug: bool,
    address: String,
    received: u64,
    out: Vec<u8>,
    // 3.1.1 has no "no local": the empty messages that clear a retained message come
    // back to us; these topics are waiting for theirs.
    clearing: HashSet<ByteString>,
    version: ProtocolVersion,
    pub undecoded: Undecoded,
    seq_gaps: SeqGaps,
    /// SUBSCRIBE and UNSUBSCRIBE packets not answered yet (for -E and -U).
    unanswered: usize,
    sampler: Option<Sampler>,
    /// Messages since the last `--message-rate` line.
    this_second: u64,
    watch: Option<WatchScreen>,
}

impl Printer {
    pub fn new(plan: Plan, debug: bool, address: String) -> Printer {
        let unanswered =
            usize::from(!plan.subscriptions.is_empty()) + usize::from(!plan.unsubscribe.is_empty());
        let watch = plan.watch.then(|| WatchScreen::new(&address));
        let mut out = Vec::new();
        if let Some(screen) = &watch {
            out.extend_from_slice(&screen.start());
        }
        Printer {
            sampler: plan.print_chance.map(Sampler::new),
            plan,
            debug,
            address,
            received: 0,
            out,
            clearing: HashSet::new(),
            version: ProtocolVersion::V5,
            undecoded: Undecoded::default(),
            seq_gaps: SeqGaps::default(),
            unanswered,
            this_second: 0,
            watch,
        }
    }

    pub async fn on_event(&mut self, client: &Client, event: ClientEvent) -> anyhow::Result<Step> {
        match event {
            ClientEvent::Message(publish) => return self.on_message(client, publish).await,
            ClientEvent::SubAck(ack) => {
                check_suback(&self.plan.subscriptions, &ack.reason_codes, self.version)?;
                return Ok(self.answered());
            }
            ClientEvent::UnsubAck(ack) => {
                check_unsuback(&self.plan.unsubscribe, &ack.reason_codes, self.version);
                return Ok(self.answered());
            }
            ClientEvent::Connected {
                fell_back,
                reconnected,
                version,
                ..
            } => {
                self.version = version;
                if fell_back && (self.debug || reconnected) {
                    output::note(format!("{} refused MQTT 5, using MQTT 3.1.1", self.address));
                }
                if reconnected {
                    output::note(format!("reconnected to {}", self.address));
                }
            }
            ClientEvent::ConnectionLost { error, retry_in } => {
                self.flush()?;
                if let Some(delay) = retry_in {
                    output::note(format!(
                        "{error}; reconnecting in {} s",
                        delay.as_secs_f64()
                    ));
                }
            }
            ClientEvent::ReconnectFailed { error, retry_in } => {
                output::note(format!(
                    "{error}; trying again in {} s",
                    retry_in.as_secs_f64()
                ));
            }
            ClientEvent::Closed(result) => {
                self.flush()?;
                return Ok(Step::Closed(result));
            }
            ClientEvent::Delivered { .. } | ClientEvent::Dropped { .. } => {}
        }
        Ok(Step::Continue)
    }

    /// A SUBACK or UNSUBACK arrived: with -E (or -U alone), the last one ends the run.
    fn answered(&mut self) -> Step {
        self.unanswered = self.unanswered.saturating_sub(1);
        if self.plan.exit_when_acknowledged && self.unanswered == 0 {
            Step::Finish
        } else {
            Step::Continue
        }
    }

    async fn on_message(&mut self, client: &Client, publish: Publish) -> anyhow::Result<Step> {
        let at = SystemTime::now();
        if self.plan.message_rate {
            // As mosquitto_sub: every message that arrives counts.
            self.this_second += 1;
            return Ok(Step::Continue);
        }
        let plan = &self.plan;
        if publish.payload.is_empty() && !publish.retain && self.clearing.remove(&publish.topic) {
            return Ok(Step::Continue);
        }
        if plan
            .filter_out
            .iter()
            .any(|f| topic::matches(f, &publish.topic))
        {
            return Ok(Step::Continue);
        }
        if plan.remove_retained && publish.retain {
            if self.version == ProtocolVersion::V311 {
                self.clearing.insert(publish.topic.clone());
            }
            client.publish(clear_retained(&publish)).await?;
        }
        if plan.no_stale && publish.retain {
            return Ok(Step::Continue);
        }
        if plan.retained_only && !publish.retain {
            self.flush()?;
            return Ok(Step::Finish);
        }
        // --random-filter leaves a message unprinted but counted, as mosquitto_sub does.
        if self.sampler.as_mut().is_none_or(Sampler::pick) {
            self.print(&publish, at);
        }
        self.received += 1;
        if self.plan.count.is_some_and(|count| self.received >= count) {
            self.flush()?;
            return Ok(Step::Finish);
        }
        if self.out.len() >= OUTPUT_BATCH {
            self.flush()?;
        }
        Ok(Step::Continue)
    }

    /// Decodes (for --decode) and renders the message into the batch.
    fn print(&mut self, publish: &Publish, at: SystemTime) {
        let plan = &self.plan;
        let decoding = plan.decode.decode(&publish.topic, &publish.payload);
        match &decoding {
            Some(Err(error)) => self.undecoded.note(&publish.topic, error),
            Some(Ok(decoded)) if decoded.form == "sparkplug" => {
                if let Some(gap) = self.seq_gaps.observe(&decoded.value) {
                    output::warning(gap);
                }
            }
            _ => {}
        }
        let received = Received::new(publish, at, decoding.as_ref());
        match message::render(&plan.format, &received, plan.no_newline) {
            Ok(bytes) => match &mut self.watch {
                Some(screen) => self.out.extend(screen.place(&publish.topic, &bytes)),
                None => self.out.extend_from_slice(&bytes),
            },
            Err(e) => output::error_message(e),
        }
    }

    /// `--message-rate`: one `N msgs/s` line for the second that just ended.
    pub fn tick(&mut self) -> anyhow::Result<()> {
        self.out
            .extend_from_slice(rate_line(std::mem::take(&mut self.this_second)).as_bytes());
        self.flush()
    }

    /// The exit of -W running out (status 27, as mosquitto_sub).
    pub fn timed_out(&self) -> Exit {
        let waited = self
            .plan
            .timeout
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let message = match self.plan.count {
            Some(count) => format!(
                "timed out after {waited} s: {} of {count} messages arrived",
                self.received
            ),
            None => format!("timed out after {waited} s"),
        };
        Exit::new(27, message)
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            output::stdout_bytes(&self.out).context("cannot write to stdout")?;
            self.out.clear();
        }
        Ok(())
    }

    /// Leaves the terminal as it was found (`-w` turned line wrapping off).
    pub fn close(&mut self) -> anyhow::Result<()> {
        if let Some(screen) = &self.watch {
            self.out.extend_from_slice(&screen.end());
        }
        self.flush()
    }
}

/// `--random-filter`: picks each message with the given chance (xorshift64*, seeded from
/// the OS: the sample need not be unpredictable, only fair).
struct Sampler {
    chance: f64,
    state: u64,
}

impl Sampler {
    fn new(percent: f64) -> Sampler {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Sampler {
            chance: percent / 100.0,
            state: u64::from_le_bytes(seed) | 1,
        }
    }

    fn pick(&mut self) -> bool {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (draw as f64) / ((1u64 << 53) as f64) < self.chance
    }
}

/// Payloads that a `--decode` rule covered but that did not decode: printed raw, with
/// one warning per topic (a stream of bad payloads must not bury the output) and a
/// count at the end.
#[derive(Default)]
pub(super) struct Undecoded {
    count: u64,
    warned: HashSet<ByteString>,
}

impl Undecoded {
    fn note(&mut self, topic: &ByteString, error: &str) {
        self.count += 1;
        if self.warned.insert(topic.clone()) {
            output::warning(format!(
                "payload on '{topic}' is {error}; printed raw (further failures on this \
                 topic are counted, not shown)"
            ));
        }
    }

    pub fn report(&self) {
        if self.count > 0 {
            output::warning(format!(
                "{} payload{} on {} topic{} could not be decoded and {} printed raw",
                self.count,
                plural(self.count),
                self.warned.len(),
                plural(self.warned.len() as u64),
                if self.count == 1 { "was" } else { "were" }
            ));
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The empty retained message that clears `publish`'s (MQTT 3.1.1 §3.3.1.3).
fn clear_retained(publish: &Publish) -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: publish.topic.clone(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::new(),
    }
}

/// Warns about each refused filter; fails when none was granted.
fn check_suback(
    subscriptions: &[Subscription],
    codes: &[ReasonCode],
    version: ProtocolVersion,
) -> anyhow::Result<()> {
    let mut refused = 0;
    for (sub, code) in subscriptions.iter().zip(codes) {
        if !code.is_success() {
            refused += 1;
            output::warning(format!(
                "the broker refused the subscription to '{}' ({}, 0x{:02X})",
                sub.filter,
                reason(*code, version),
                *code as u8
            ));
        }
    }
    if refused == subscriptions.len() {
        bail!("the broker refused every subscription");
    }
    Ok(())
}

/// Warns about each filter the broker did not unsubscribe (MQTT 5 only: 3.1.1's
/// UNSUBACK has no codes), e.g. "no subscription existed".
fn check_unsuback(filters: &[String], codes: &[ReasonCode], version: ProtocolVersion) {
    for (filter, code) in filters.iter().zip(codes) {
        // 0x11 "no subscription existed" is a success code, but worth saying.
        if *code as u8 != 0 {
            output::warning(format!(
                "-U {filter}: the broker answered {} (0x{:02X})",
                reason(*code, version),
                *code as u8
            ));
        }
    }
}

fn reason(code: ReasonCode, version: ProtocolVersion) -> &'static str {
    match version {
        // MQTT 3.1.1 §3.9.3: 0x80, its only refusal, is "Failure"; "unspecified
        // error" is MQTT 5's name for the byte.
        ProtocolVersion::V311 => "failure",
        ProtocolVersion::V5 => code.description(),
    }
}

//! The outcome of `mqtk pub`: reads the client's events while the producer works
//! (acknowledgements, refusals, reconnects), gives up on a broker that keeps dropping
//! the connection, and turns the counts into the exit status and its message. Must not
//! produce messages (that is `produce`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::plan::Plan;
use super::produce::{produce, Produced};
use crate::cli::connect;
use crate::client::{Client, ClientError, ClientEvent};
use crate::output;
use crate::protocol::QoS;

/// Connections lost in a row with no message acknowledged, refused or dropped in
/// between, after which pub stops resending and fails.
const MAX_LOSSES_WITHOUT_PROGRESS: u32 = 5;

/// What became of the messages.
#[derive(Default)]
struct Tally {
    acknowledged: u64,
    refused: u64,
    first_refusal: Option<String>,
    dropped: u64,
    first_drop: Option<String>,
}

/// Connects, runs the producer and reads the client's events until the end.
pub(super) async fn publish(plan: Plan, connection: connect::Connection) -> anyhow::Result<()> {
    let debug = connection.config.observer.is_some();
    let address = connection.config.address();
    let (client, mut events) = Client::connect(connection.config).await?;
    let qos = plan.qos;
    let handed = Arc::new(AtomicU64::new(0));
    let producer = tokio::spawn(produce(client, plan, Arc::clone(&handed)));
    let mut tally = Tally::default();
    let (mut losses_without_progress, mut progress_at_last_loss) = (0u32, 0u64);
    let closed = loop {
        let Some(event) = events.recv().await else {
            break Err(ClientError::Closed);
        };
        match event {
            ClientEvent::Connected {
                fell_back,
                reconnected,
                ..
            } => {
                if fell_back && (debug || reconnected) {
                    output::note(format!("{address} refused MQTT 5, using MQTT 3.1.1"));
                }
                if reconnected {
                    output::note(format!("reconnected to {address}"));
                }
            }
            ClientEvent::Delivered { reason_code, .. } if reason_code.is_success() => {
                tally.acknowledged += 1
            }
            ClientEvent::Delivered { reason_code, .. } => {
                tally.refused += 1;
                tally
                    .first_refusal
                    .get_or_insert_with(|| reason_code.to_string());
            }
            ClientEvent::Dropped { reason, .. } => {
                tally.dropped += 1;
                tally.first_drop.get_or_insert(reason);
            }
            ClientEvent::ConnectionLost { error, retry_in } => {
                // A broker that drops every connection before acknowledging anything
                // (a message it cannot take, 3.1.1 having no maximum packet size to
                // tell us) would have us resend it for ever: give up after a few.
                // Only while QoS 1/2 messages wait (QoS 0 ones are never resent; an idle
                // `tail -f | mqtk pub -l` rides out any number of broker restarts).
                let progress = tally.acknowledged + tally.refused + tally.dropped;
                let waiting = qos != QoS::AtMostOnce && handed.load(Ordering::Relaxed) > progress;
                if !waiting {
                    losses_without_progress = 0;
                } else if progress == progress_at_last_loss {
                    losses_without_progress += 1;
                } else {
                    losses_without_progress = 1;
                }
                progress_at_last_loss = progress;
                if losses_without_progress >= MAX_LOSSES_WITHOUT_PROGRESS {
                    break Err(ClientError::ConnectionLost {
                        address: address.clone(),
                        reason: format!(
                            "the broker closed the connection {MAX_LOSSES_WITHOUT_PROGRESS} \
                             times in a row without acknowledging anything (is a message \
                             too large for it, or not allowed?)"
                        ),
                    });
                }
                if let Some(delay) = retry_in {
                    output::note(format!("{error}; reconnecting in {}", seconds(delay)));
                }
            }
            ClientEvent::ReconnectFailed { error, retry_in } => {
                output::note(format!("{error}; trying again in {}", seconds(retry_in)));
            }
            ClientEvent::Closed(result) => break result,
            ClientEvent::Message(_) | ClientEvent::SubAck(_) | ClientEvent::UnsubAck(_) => {}
        }
    };
    let produced = if closed.is_ok() {
        // Closed(Ok) comes after the producer asked to disconnect: it is done.
        producer.await.context("the publishing task failed")??
    } else {
        // The connection is gone for good: stop reading stdin (it may never end).
        producer.abort();
        Produced {
            sent: handed.load(Ordering::Relaxed),
            ..Produced::default()
        }
    };
    let sent = produced.sent;
    let unfinished = |what: &str| -> String {
        if qos == QoS::AtMostOnce {
            format!("{what}; some of the {sent} QoS 0 messages may not have been sent")
        } else {
            let missing = sent.saturating_sub(tally.acknowledged + tally.refused + tally.dropped);
            format!("{what}; {missing} of {sent} messages were not acknowledged")
        }
    };
    if let Err(error) = closed {
        bail!(unfinished(&error.to_string()));
    }
    if tally.refused > 0 {
        let reason = tally.first_refusal.unwrap_or_default();
        bail!(
            "the broker refused {} of {sent} messages: {reason}",
            tally.refused
        );
    }
    if tally.dropped > 0 {
        let reason = tally.first_drop.unwrap_or_default();
        bail!(
            "{} of {sent} messages were not sent: {reason}",
            tally.dropped
        );
    }
    if let Some(bad) = produced.stopped {
        let done = if qos == QoS::AtMostOnce {
            "published"
        } else {
            "published and acknowledged"
        };
        let before = match sent {
            0 => "nothing was published".to_string(),
            n => format!(
                "the {n} message{} before it {} {done}",
                plural(n),
                if n == 1 { "was" } else { "were" }
            ),
        };
        bail!(
            "line {}: {}; stopped there ({before}; --keep-going skips bad lines)",
            bad.number,
            bad.error,
        );
    }
    if produced.skipped > 0 {
        let skipped = produced.skipped;
        bail!(
            "{skipped} bad line{} of stdin skipped (the warnings above name them); \
             {sent} message{} published",
            plural(skipped),
            plural(sent),
        );
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A delay for messages: `0.5 s`, `2 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

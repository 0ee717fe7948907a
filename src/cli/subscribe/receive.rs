//! The run of `mqtk sub`: connect, subscribe (and unsubscribe, `-U`), then hand each
//! event to the `Printer` until -C, -W, -E, a signal or the client ends it; the
//! `--message-rate` clock; the clean DISCONNECT at the end. Must not render messages
//! (`printer.rs` does).

use std::time::Duration;

use tokio::time::Instant;

use super::plan::Plan;
use super::printer::{Printer, Step};
use crate::cli::connect;
use crate::client::{Client, ClientError, ClientEvent};

/// Connects, subscribes, and prints until the subscription ends.
pub(super) async fn subscribe(plan: Plan, connection: connect::Connection) -> anyhow::Result<()> {
    let debug = connection.config.observer.is_some();
    let address = connection.config.address();
    let (client, mut events) = Client::connect(connection.config).await?;
    if !plan.subscriptions.is_empty() {
        client
            .subscribe(plan.subscriptions.clone(), plan.properties.clone())
            .await?;
    }
    // After the SUBSCRIBE, as mosquitto_sub: the broker handles them in order.
    if !plan.unsubscribe.is_empty() {
        client
            .unsubscribe(
                plan.unsubscribe.clone(),
                plan.unsubscribe_properties.clone(),
            )
            .await?;
    }
    let deadline = plan.timeout.map(|d| Instant::now() + d);
    let mut printer = Printer::new(plan, debug, address);
    let result = receive(&client, &mut events, &mut printer, deadline).await;
    let closed = printer.close();
    printer.undecoded.report();
    result.and(closed)
}

/// Prints messages until the subscription ends (-C, -W, -E, a signal, the client).
async fn receive(
    client: &Client,
    events: &mut crate::client::Events,
    printer: &mut Printer,
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    let mut interrupts = Interrupts::new();
    let second = Duration::from_secs(1);
    let mut next_tick = printer.plan.message_rate.then(|| Instant::now() + second);
    loop {
        if let Some(tick) = next_tick.as_mut().filter(|tick| Instant::now() >= **tick) {
            *tick += second;
            printer.tick()?;
        }
        let event = match events.try_recv() {
            Ok(event) => event,
            Err(_) => {
                // Nothing else is waiting: what was gathered goes out now.
                printer.flush()?;
                match wait(events, &mut interrupts, deadline, next_tick).await {
                    Ok(event) => event,
                    Err(Woken::Tick) => continue,
                    // Ctrl-C or SIGTERM: a clean DISCONNECT, so no will is published
                    // (as mosquitto_sub does).
                    Err(Woken::Interrupted) => return finish(client, events).await,
                    Err(Woken::Closed) => return Err(ClientError::Closed.into()),
                    Err(Woken::TimedOut) => return Err(printer.timed_out().into()),
                }
            }
        };
        match printer.on_event(client, event).await? {
            Step::Continue => {}
            Step::Finish => return finish(client, events).await,
            Step::Closed(result) => return result.map_err(Into::into),
        }
    }
}

/// What ended a wait for the next event, when no event did.
enum Woken {
    Interrupted,
    Closed,
    TimedOut,
    /// A `--message-rate` second is over.
    Tick,
}

/// Waits for the next event, SIGINT/SIGTERM, -W running out, or the next rate tick.
async fn wait(
    events: &mut crate::client::Events,
    interrupts: &mut Interrupts,
    deadline: Option<Instant>,
    tick: Option<Instant>,
) -> Result<ClientEvent, Woken> {
    tokio::select! {
        _ = interrupts.recv() => Err(Woken::Interrupted),
        event = events.recv() => event.ok_or(Woken::Closed),
        _ = sleep_until(deadline) => Err(Woken::TimedOut),
        _ = sleep_until(tick) => Err(Woken::Tick),
    }
}

/// Disconnects cleanly (the acks of what was printed go out first) and waits for the end.
async fn finish(client: &Client, events: &mut crate::client::Events) -> anyhow::Result<()> {
    let _ = client.disconnect().await;
    let wait = async {
        while let Some(event) = events.recv().await {
            if let ClientEvent::Closed(_) = event {
                break;
            }
        }
    };
    // The output is complete; a broker that does not let go must not keep us here.
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    Ok(())
}

/// SIGINT and SIGTERM, caught from the start of the subscription on.
struct Interrupts {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn new() -> Interrupts {
        use tokio::signal::unix::{signal, SignalKind};
        Interrupts {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves when either signal arrives (never, if neither could be caught).
    async fn recv(&mut self) {
        async fn one(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.int) => {}
            _ = one(&mut self.term) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

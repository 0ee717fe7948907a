//! The MQTT client core used by `pub` and `sub`: connect (with the fallback from MQTT 5
//! to 3.1.1), drive `protocol::session::Session` over a `net::Connection`,
//! reconnect with backoff and resume, and the `--session-dir` store. A `Client` is a
//! handle sending commands to one task that owns the connection and the session; the
//! task reports `ClientEvent`s on a channel. Must not print (observers and events
//! carry everything the CLI shows) and must not parse command lines.

pub mod config;
pub mod error;
pub mod handshake;
pub mod store;

pub use config::{
    ConnectConfig, PacketDirection, PacketObserver, Reconnect, TlsOptions, Transport,
};
pub use error::ClientError;

mod driver;
mod event;

pub use event::ClientEvent;
use event::Command;

use tokio::sync::mpsc;

use crate::protocol::{Properties, Publish, Subscription};
use store::Store;

/// A handle to a connected client; clones share the connection. Dropping every handle
/// is a `disconnect`.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    client_id: String,
}

/// The events of a client, in order; `Closed` is the last.
pub type Events = mpsc::Receiver<ClientEvent>;

impl Client {
    /// Opens the `--session-dir` store (if any), connects (falling back to MQTT 3.1.1
    /// when the broker refuses 5 and no version was set), and starts the client task.
    /// The first event is `Connected`. Errors here are the first connection's.
    pub async fn connect(config: ConnectConfig) -> Result<(Client, Events), ClientError> {
        let store = match &config.session_dir {
            Some(dir) => Some(Store::open(dir, &config.client_id)?),
            None => None,
        };
        let established = handshake::establish(&config, config.clean_start).await?;
        let (command_tx, command_rx) = mpsc::channel(1024);
        let (event_tx, event_rx) = mpsc::channel(1024);
        let client_id = established.client_id.clone();
        // The channel is empty and has room: this cannot fail.
        let _ = event_tx.try_send(driver::connected(&established, false));
        let driver = driver::Driver::new(config, &established, store, command_rx, event_tx);
        tokio::spawn(driver.run(established));
        Ok((
            Client {
                commands: command_tx,
                client_id,
            },
            event_rx,
        ))
    }

    /// The client id in use.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Publishes a message (waits while the client's queue is full). The outcome comes
    /// as `Delivered` for QoS 1/2; QoS 0 counts as done once `Closed(Ok)` arrives.
    pub async fn publish(&self, publish: Publish) -> Result<(), ClientError> {
        self.send(Command::Publish(publish)).await
    }

    /// Subscribes; the answer comes as `SubAck`. Subscriptions are made again after a
    /// reconnect to a broker that kept no session.
    pub async fn subscribe(
        &self,
        subscriptions: Vec<Subscription>,
        properties: Properties,
    ) -> Result<(), ClientError> {
        self.send(Command::Subscribe {
            subscriptions,
            properties,
        })
        .await
    }

    /// Unsubscribes; the answer comes as `UnsubAck`.
    pub async fn unsubscribe(
        &self,
        filters: Vec<String>,
        properties: Properties,
    ) -> Result<(), ClientError> {
        self.send(Command::Unsubscribe {
            filters,
            properties,
        })
        .await
    }

    /// Finishes everything in flight, sends DISCONNECT and ends the task (`Closed`).
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.send(Command::Disconnect).await
    }

    async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

//! What a `Client` handle and its task say to each other: the `Command`s the handle sends
//! and the `ClientEvent`s the task reports. Must not act on them (`driver` does).

use std::time::Duration;

use super::error::ClientError;
use crate::protocol::{
    Properties, ProtocolVersion, Publish, QoS, ReasonCode, SubAck, Subscription, UnsubAck,
};

/// Commands a `Client` sends to its task.
#[derive(Debug)]
pub(super) enum Command {
    Publish(Publish),
    Subscribe {
        subscriptions: Vec<Subscription>,
        properties: Properties,
    },
    Unsubscribe {
        filters: Vec<String>,
        properties: Properties,
    },
    Disconnect,
}

/// What the client task reports, in order.
#[derive(Debug)]
pub enum ClientEvent {
    /// A connection is up (the first one is reported too).
    Connected {
        /// The protocol version in use.
        version: ProtocolVersion,
        /// CONNACK's session present flag.
        session_present: bool,
        /// MQTT 5 was refused and 3.1.1 is used.
        fell_back: bool,
        /// False for the first connection.
        reconnected: bool,
        /// The client id in use (the broker's choice when ours was empty).
        client_id: String,
    },
    /// An application message arrived.
    Message(Publish),
    /// A QoS 1/2 message is finished; `reason_code.is_success()` tells whether the
    /// broker took it. `seq` counts publishes from 1 in the order they were given.
    Delivered {
        /// Which message.
        seq: u64,
        /// Its QoS.
        qos: QoS,
        /// The broker's verdict (`Success` on 3.1.1).
        reason_code: ReasonCode,
    },
    /// A message that will not be sent.
    Dropped {
        /// The message.
        publish: Publish,
        /// Why, for users.
        reason: String,
    },
    /// The answer to a subscribe.
    SubAck(SubAck),
    /// The answer to an unsubscribe.
    UnsubAck(UnsubAck),
    /// The connection broke; reconnecting in `retry_in` (`None`: not reconnecting).
    ConnectionLost {
        /// Why.
        error: ClientError,
        /// Delay before the next attempt.
        retry_in: Option<Duration>,
    },
    /// A reconnect attempt failed; the next in `retry_in`.
    ReconnectFailed {
        /// Why.
        error: ClientError,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The task ended: `Ok` after `disconnect` with everything finished, else why not.
    Closed(Result<(), ClientError>),
}

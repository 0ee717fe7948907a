//! `ClientError`: what can go wrong connecting to and talking with a broker, worded for
//! the user ("cannot connect to localhost:1883: connection refused"). Must not print.

use std::io;
use std::path::PathBuf;

use crate::protocol::{ProtocolError, ReasonCode};

/// A failure of the client, with the context a user needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No stream to the broker: the host did not resolve, or TCP, TLS or the WebSocket
    /// upgrade failed.
    #[error(transparent)]
    Dial(#[from] crate::net::dial::DialError),
    /// The stream opened, but the CONNECT/CONNACK exchange failed (TLS session, time
    /// out, an unexpected answer).
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why, lowercase ("no CONNACK within 10 s").
        reason: String,
    },
    /// The broker answered CONNECT with a refusal.
    #[error("broker refused the connection: {reason}")]
    Refused {
        /// The reason as `description (0xNN)`, or the 3.1.1 return code.
        reason: String,
        /// The reason code.
        code: ReasonCode,
    },
    /// The connection broke after it was established.
    #[error("connection to {address} lost: {reason}")]
    ConnectionLost {
        /// `host:port`.
        address: String,
        /// Why.
        reason: String,
    },
    /// The TLS session failed (an alert from the broker, a bad record): worded like a
    /// lost connection, but told apart from one, so that a broker refusing our
    /// certificate is not taken for one hanging up on MQTT 5.
    #[error("connection to {address} lost: {reason}")]
    Tls {
        /// `host:port`.
        address: String,
        /// Why, from `net::tls::session_failure`, with the flag that may fix it.
        reason: String,
    },
    /// MQTT 5 DISCONNECT 0x8E: another connection with our client id replaced us.
    /// Not worth a reconnect, which would throw that one out in turn, for ever.
    #[error(
        "connection to {address} closed: session taken over (0x8E) by another client with \
         the id {client_id:?}; give each client its own -i"
    )]
    TakenOver {
        /// `host:port`.
        address: String,
        /// Our client identifier.
        client_id: String,
    },
    /// The broker sent something the protocol forbids.
    #[error("protocol error from {address}: {source}")]
    Protocol {
        /// `host:port`.
        address: String,
        /// The violation.
        source: ProtocolError,
    },
    /// The `--session-dir` store cannot be used.
    #[error("session store {}: {reason}", path.display())]
    Store {
        /// The store file or directory.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// The client task is gone (it ended after an error reported earlier).
    #[error("the connection task has ended")]
    Closed,
}

pub use crate::net::dial::io_reason;

impl ClientError {
    /// A read or write error of an open connection: a failed TLS session (`Tls`) or a
    /// lost connection.
    pub fn io(address: &str, e: &io::Error) -> ClientError {
        let address = address.to_string();
        match crate::net::tls::session_failure(e) {
            Some(reason) => ClientError::Tls { address, reason },
            None => ClientError::ConnectionLost {
                address,
                reason: io_reason(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_address_and_the_reason() {
        let err = ClientError::Connect {
            address: "localhost:1883".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot connect to localhost:1883: connection refused"
        );
        let err = ClientError::Refused {
            reason: ReasonCode::NotAuthorized.to_string(),
            code: ReasonCode::NotAuthorized,
        };
        assert_eq!(
            err.to_string(),
            "broker refused the connection: not authorized (0x87)"
        );
    }
}

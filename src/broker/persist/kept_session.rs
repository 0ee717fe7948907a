//! `KeptSession`: a session's state that outlives a network connection (MQTT 5.0
//! §4.1), owned by one connection task at a time or by the session store while the
//! client is away. Plain data: must not route or persist by itself.
//!
//! Its mailbox is made at its first subscription (or when a stored session is restored
//! with a queue), not with the session: nothing can queue a message for a session that
//! never subscribed, and most idle connections never do (a `Mailbox` is 192 bytes of
//! heap: memory per idle connection, scripts/serve-memory). Until then the session
//! keeps the mailbox's stored flag itself, and its `Session` knows whether it is online.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc::error::TryRecvError;

use crate::broker::config::BrokerConfig;
use crate::broker::hooks::Persistence;
use crate::broker::route::mailbox::{Inbox, Mailbox};
use crate::broker::route::message::{Delivery, SubOptions};
use crate::protocol::session::Session;
use crate::small_map::SmallMap;
use smol_str::SmolStr;

/// A session's state that outlives a network connection (MQTT 5.0 §4.1).
#[derive(Debug)]
pub struct KeptSession {
    /// Unique per session (a new clean session gets a new id); its mailbox's too.
    pub session_id: u64,
    /// Its mailbox once made (`mailbox_made`), or its stored flag till then.
    queue: Queue,
    /// QoS 1/2 flows in both directions.
    pub session: Session,
    /// Its subscriptions by filter as written (`$share/…` included); a filter of up
    /// to 23 bytes is kept inline (memory per idle connection).
    pub subscriptions: SmallMap<SmolStr, SubOptions>,
    /// Shared-subscription messages handed to `session` and not acknowledged yet, by
    /// the number `Session::publish` gave them: another member gets them if the
    /// session ends first (MQTT 5.0 §4.8.2). Boxed on first use: most sessions have
    /// no shared subscription (memory per idle connection).
    pub shared_inflight: Option<Box<SmallMap<u64, Delivery>>>,
}

/// A session's mailbox, made on first use; 16 bytes either way.
#[derive(Debug)]
enum Queue {
    /// None yet; `stored`: the session is kept in the store (`--data-dir`).
    Unmade { stored: bool },
    /// The receiving end of the mailbox, which reaches the mailbox and its flags.
    Made(Inbox),
}

impl KeptSession {
    /// A session with no mailbox yet, not stored.
    pub fn new(session_id: u64, session: Session) -> KeptSession {
        KeptSession {
            session_id,
            queue: Queue::Unmade { stored: false },
            session,
            subscriptions: SmallMap::new(),
            shared_inflight: None,
        }
    }

    /// Its mailbox, if made.
    pub fn mailbox(&self) -> Option<&Arc<Mailbox>> {
        match &self.queue {
            Queue::Made(inbox) => Some(inbox.mailbox()),
            Queue::Unmade { .. } => None,
        }
    }

    fn inbox(&mut self) -> Option<&mut Inbox> {
        match &mut self.queue {
            Queue::Made(inbox) => Some(inbox),
            Queue::Unmade { .. } => None,
        }
    }

    /// Its mailbox, made now if it has none (`--max-queued`, `--max-queued-bytes`),
    /// online as its `Session` is, and stored as the session is.
    pub fn mailbox_made(&mut self, client_id: &Arc<str>, config: &BrokerConfig) -> &Arc<Mailbox> {
        if let Queue::Unmade { stored } = self.queue {
            let (mailbox, inbox) = Mailbox::bounded(
                self.session_id,
                client_id.clone(),
                config.max_queued,
                config.max_queued_bytes,
            );
            mailbox.set_online(self.session.is_online());
            mailbox.set_stored(stored.then_some(&config.persistence));
            self.queue = Queue::Made(inbox);
        }
        match &self.queue {
            Queue::Made(inbox) => inbox.mailbox(),
            Queue::Unmade { .. } => unreachable!("made just above"),
        }
    }

    /// Marks the session connected or not, for publishers (its `Session` is told apart).
    pub fn set_online(&mut self, online: bool) {
        if let Some(mailbox) = self.mailbox() {
            mailbox.set_online(online);
        }
    }

    /// True while the session is kept in the store.
    pub fn is_stored(&self) -> bool {
        match &self.queue {
            Queue::Made(inbox) => inbox.mailbox().is_stored(),
            Queue::Unmade { stored } => *stored,
        }
    }

    /// Stores this session (its queue too) from now on (`Some`), or stops (`None`).
    pub fn set_stored(&mut self, persistence: Option<&Arc<dyn Persistence>>) {
        match &mut self.queue {
            Queue::Made(inbox) => inbox.mailbox().set_stored(persistence),
            Queue::Unmade { stored } => *stored = persistence.is_some(),
        }
    }

    /// The next delivery; pending for ever while there is no mailbox (the caller's
    /// loop looks again after whatever else woke it). Cancel-safe.
    pub fn recv(&mut self) -> impl Future<Output = Option<Delivery>> + '_ {
        std::future::poll_fn(|cx: &mut Context<'_>| match self.inbox() {
            Some(inbox) => inbox.poll_recv(cx),
            None => Poll::Pending,
        })
    }

    /// A delivery if one is queued.
    pub fn try_recv(&mut self) -> Result<Delivery, TryRecvError> {
        match self.inbox() {
            Some(inbox) => inbox.try_recv(),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further deliveries; what is queued can still be taken.
    pub fn close(&mut self) {
        if let Some(inbox) = self.inbox() {
            inbox.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::protocol::session::{Role, SessionConfig};
    use crate::protocol::ProtocolVersion;

    fn kept() -> KeptSession {
        let config = SessionConfig::new(ProtocolVersion::V311, Role::Server);
        KeptSession::new(7, Session::new(config, Instant::now()))
    }

    #[test]
    fn a_session_has_no_mailbox_until_asked_and_then_one_with_its_flags() {
        let mut kept = kept();
        assert!(kept.mailbox().is_none());
        kept.session.disconnected();
        kept.set_online(false);
        kept.set_stored(Some(&BrokerConfig::default().persistence));
        assert!(kept.try_recv().is_err());
        assert!(kept.mailbox().is_none(), "flags and polls make nothing");
        let config = BrokerConfig::default();
        let mailbox = kept.mailbox_made(&"c".into(), &config).clone();
        assert_eq!(mailbox.session_id, 7);
        assert!(!mailbox.is_online());
        assert!(mailbox.is_stored());
        // The same one the next time, and it follows the session's flags from now.
        assert!(Arc::ptr_eq(
            &mailbox,
            kept.mailbox_made(&"c".into(), &config)
        ));
        kept.set_online(true);
        kept.set_stored(None);
        assert!(mailbox.is_online());
        assert!(!mailbox.is_stored());
    }

    #[tokio::test]
    async fn deliveries_reach_the_session_once_its_mailbox_is_made() {
        use crate::broker::route::message::Message;
        use crate::protocol::{Properties, QoS};
        let mut kept = kept();
        let mailbox = kept
            .mailbox_made(&"c".into(), &BrokerConfig::default())
            .clone();
        let msg = Arc::new(Message {
            topic: "t".into(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
            publisher: 1,
            received_at: Instant::now(),
        });
        mailbox
            .push(Delivery::new(
                msg,
                QoS::AtLeastOnce,
                false,
                Vec::new(),
                None,
            ))
            .expect("queued");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), kept.recv()).await;
        assert!(matches!(got, Ok(Some(_))));
        kept.close();
        assert!(kept.try_recv().is_err());
    }

    #[test]
    fn a_kept_session_stays_small() {
        // It is inline in every connection (memory per idle connection).
        let size = std::mem::size_of::<KeptSession>();
        // 240 as before the mailbox was made on first use (its 16-byte `Queue` took
        // the place of the mailbox and inbox, the session id that of their pointer).
        assert!(size <= 240, "a KeptSession is {size} bytes");
    }
}

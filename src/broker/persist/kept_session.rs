//! `KeptSession`: a session's state that outlives a network connection (MQTT 5.0
//! §4.1), owned by one connection task at a time or by the session store while the
//! client is away. Plain data: must not route or persist by itself.

use std::sync::Arc;

use crate::broker::route::mailbox::{Inbox, Mailbox};
use crate::broker::route::message::{Delivery, SubOptions};
use crate::protocol::session::Session;
use crate::small_map::SmallMap;
use smol_str::SmolStr;

/// A session's state that outlives a network connection (MQTT 5.0 §4.1).
#[derive(Debug)]
pub struct KeptSession {
    /// Where publishers queue messages for it.
    pub mailbox: Arc<Mailbox>,
    /// The other end of the mailbox.
    pub rx: Inbox,
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

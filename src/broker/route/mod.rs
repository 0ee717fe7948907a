//! Routing: from one published message to the mailboxes of the sessions that receive it
//! (`router`, over the `subscriptions` trie and the `retained` store), each session's
//! bounded `mailbox`, and publisher back-pressure when a live subscriber's queue is full
//! (`flow`). Must not do network I/O.

pub(crate) mod flow;
pub(crate) mod mailbox;
pub(crate) mod message;
pub(crate) mod retained;
pub(crate) mod router;
pub(crate) mod subscriptions;

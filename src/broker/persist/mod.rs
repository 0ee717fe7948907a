//! Sessions that outlive a connection: what one holds (`kept_session`), in memory
//! (`session_store`: client id → connected task or kept session, expiry), and across
//! restarts with `--data-dir` (`data_dir`: the `Persistence` hook over the redb
//! `database`). Must not route messages or know connection tasks (`conn::persistence`
//! tells the hook what changed, `restore.rs` brings stored sessions back).

mod data_dir;
pub mod database;
pub(crate) mod kept_session;
pub(crate) mod session_store;

pub use data_dir::DurablePersistence;
pub use database::{FsyncPolicy, Store};

//! Sessions that outlive a connection: what one holds (`kept_session`), in memory
//! (`session_store`: client id → connected task or kept session, expiry) and across restarts with `--data-dir` (`save_restore`:
//! what a connection tells the `Persistence` hook and how stored sessions come back;
//! `data_dir`: that hook over the redb `database`). Must not route messages.

pub mod data_dir;
pub mod database;
pub(crate) mod kept_session;
pub(crate) mod save_restore;
pub(crate) mod session_store;

pub use data_dir::DurablePersistence;
pub use database::{FsyncPolicy, Store};

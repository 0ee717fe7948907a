//! Why the durable store failed: each error names the store file and, where the user
//! can act, what to do. Plain data: must not open the database (`open.rs`, `mod.rs`).

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory or file could not be opened or created.
    #[error("cannot open the data store {path}: {reason}")]
    Open {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The file is a database, but not one mqtk wrote.
    #[error("{path} is not an mqtk data store (format {found:?}); use another --data-dir")]
    Foreign {
        /// The database file.
        path: String,
        /// The format found, if any.
        found: Option<String>,
    },
    /// The file is there but cannot be read as a store: damaged, cut short, or not a
    /// database at all. It is left as it is.
    #[error(
        "{path} is damaged ({reason}); mqtk left it untouched: move it aside \
         (mv {path} {path}.damaged) to start with an empty store, or restore it from a backup"
    )]
    Damaged {
        /// The database file.
        path: String,
        /// What redb found.
        reason: String,
    },
    /// An mqtk store in a file format this mqtk cannot read (redb 2's format 2, before
    /// mqtk moved to redb 4). It is left as it is.
    #[error(
        "{path} was written by an older mqtk (redb file format {version}), which this mqtk \
         cannot read; mqtk left it untouched: keep serving it with the older mqtk, or move \
         it aside (mv {path} {path}.old) to start with an empty store"
    )]
    OldFormat {
        /// The database file.
        path: String,
        /// The file format found.
        version: u8,
    },
    /// A read or write failed, or a record could not be decoded.
    #[error("data store {path}: {reason}")]
    Failed {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

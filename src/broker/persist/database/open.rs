//! Opening `DIR/mqtk.redb` with redb: every way an old, damaged or busy file fails
//! becomes a [`StoreError`] that names the file and says what to do, and never a panic.
//! A file that fails to open is left as it is: mqtk never deletes, rewrites or moves a
//! store it could not read (the user decides, the message says how).
//! Must not read records (`Store` does, `guard` keeps its panics in).

use std::path::Path;

use redb::{Builder, Database, DatabaseError, StorageError};

use super::error::StoreError;
use super::guard;

/// `Database::create` (a missing or empty file becomes a new store), without a panic.
///
/// Every open verifies the checksums of the whole file (`check_integrity_on_open`), not
/// only after a crash: redb's reads do not, so a flipped byte in a stored message was
/// served as it was, silently. Measured with redb 4.6 on tmpfs: about 3 ms for a 4.5 MB
/// store, 300 ms for 84 MB (10,000 and 200,000 retained messages of 200 bytes).
pub(super) fn database(path: &Path) -> Result<Database, StoreError> {
    let opened = guard::catch(|| {
        Builder::new()
            .set_check_integrity_on_open(true)
            .create(path)
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(err)) => Err(classify(path, err)),
        Err(panic) => Err(damaged(path, format!("redb {panic}"))),
    }
}

fn classify(path: &Path, err: DatabaseError) -> StoreError {
    let shown = path.display().to_string();
    match err {
        DatabaseError::UpgradeRequired(version) => StoreError::OldFormat {
            path: shown,
            version,
        },
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::Open {
                path: shown,
                reason:
                    "another process has it open (is another mqtk serve using this --data-dir?)"
                        .into(),
            }
        }
        DatabaseError::Storage(StorageError::Corrupted(reason)) => damaged(path, reason),
        // A file that is not a redb database at all is damaged too, as far as the user
        // can tell: they gave a directory whose mqtk.redb is not a store.
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            damaged(path, io.to_string())
        }
        err => StoreError::Open {
            path: shown,
            reason: err.to_string(),
        },
    }
}

/// The file is there but cannot be read as a store.
pub(super) fn damaged(path: &Path, reason: String) -> StoreError {
    StoreError::Damaged {
        path: path.display().to_string(),
        reason,
    }
}

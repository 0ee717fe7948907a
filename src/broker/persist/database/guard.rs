//! Calls into redb that turn a panic into an error: redb asserts (panics) on some damaged
//! files instead of returning `StorageError::Corrupted` (found by `fuzz/redb_store`), and a
//! damaged store must be an error the user can act on, never a crash of `serve`.
//!
//! The panic's message is kept for the error and not printed: a process-wide panic hook,
//! installed once, is silent only on a thread that is inside [`catch`] and hands every
//! other panic to the hook that was there before (the default one, or libFuzzer's).
//! Must not wrap mqtk's own logic: a bug of ours should still panic loudly.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread is inside `catch`.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic caught on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                CAUGHT.with(|caught| *caught.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it is `Err` with the panic's message and location (redb's
/// file and line, for a bug report), printed nowhere.
///
/// A panic while unwinding, or a failed allocation, still aborts the process: nothing in
/// a process can catch those.
pub(super) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was_quiet = QUIET.with(|quiet| quiet.replace(true));
    // Only a store that failed is touched after a caught panic: its callers return the
    // error and drop it (under `catch` as well).
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was_quiet));
    result.map_err(|payload| {
        CAUGHT
            .with(|caught| caught.borrow_mut().take())
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
            .replace('\n', " ")
    })
}

/// Owns a `T` whose drop may panic (redb's `Database` commits its allocator state when
/// dropped, and asserted doing so on a damaged file): dropped under [`catch`], a panic
/// is dropped with it. Derefs to the `T`.
#[derive(Debug)]
pub(super) struct QuietDrop<T>(Option<T>);

impl<T> QuietDrop<T> {
    pub(super) fn new(value: T) -> QuietDrop<T> {
        QuietDrop(Some(value))
    }
}

impl<T> std::ops::Deref for QuietDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("only `drop` takes the value out")
    }
}

impl<T> Drop for QuietDrop<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            let _ = catch(move || drop(value));
        }
    }
}

//! Where client tasks run: single-threaded tokio runtimes, each on its own thread, clients
//! dealt round-robin. A client's reads, writes and timers never cross threads. One worker
//! by default (`MQTK_BENCH_THREADS=N` for more): more threads, or tokio's multi-threaded
//! scheduler, cost more CPU per message (more wake-ups and context switches), and one
//! worker leaves a broker on the same machine the other core. Each worker runs the
//! `pacer` of its thread. The run's own loop (collector, progress) stays on the
//! caller's runtime. Must not know what tasks do.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Name of the worker threads (and prefix in /proc).
pub const THREAD_NAME: &str = "mqtk-bench-w";

/// The worker runtimes.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` (at least one) worker threads, each with its runtime.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let mut workers = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for _ in 0..n.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            workers.stops.push(stop);
            let thread = std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || {
                    runtime.block_on(async {
                        // The thread's pacer runs as long as the worker.
                        tokio::select! {
                            _ = stopped => {}
                            _ = super::pacer::run() => {}
                        }
                    });
                    // Dropping the runtime drops any task still there.
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// `MQTK_BENCH_THREADS` workers when set to a number, else one.
    pub fn from_env() -> std::io::Result<Workers> {
        let n = std::env::var("MQTK_BENCH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Workers::start(n)
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }

    /// Runs `task` on worker `i % n`.
    pub fn spawn<F>(&self, i: usize, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handles[i % self.handles.len()].spawn(task)
    }

    /// Stops every worker, dropping tasks that are still running, and waits for the threads.
    pub fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_workers_round_robin() {
        let workers = Workers::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..4 {
            let tx = tx.clone();
            workers.spawn(i, async move {
                let name = std::thread::current().name().map(String::from);
                tx.send((i, name)).unwrap();
            });
        }
        let mut seen: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
        seen.sort();
        assert!(seen
            .iter()
            .all(|(_, name)| name.as_deref() == Some(THREAD_NAME)));
        workers.stop();
    }
}

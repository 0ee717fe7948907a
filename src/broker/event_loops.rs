//! The broker's extra event loops (`mqtk serve --threads N`, one per core by default):
//! N-1 threads, each running its own single-threaded tokio runtime, beside the caller's.
//! A new TCP connection is handed to the loops in turn and then lives on its loop for
//! its whole life: its socket is registered with that loop's reactor, and its task,
//! woken by its own socket, runs there without waking another thread. Messages between
//! connections on different loops go through the session mailboxes as before (a wake-up
//! from another thread costs that loop one eventfd write). This replaces tokio's
//! work-stealing runtime, which woke a second worker for about every request/response
//! of a client with one message in flight (README, closed loop). Must not know MQTT.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::watch;

/// The extra event loops; the caller's runtime is loop 0.
#[derive(Debug)]
pub struct EventLoops {
    /// Loops 1..N.
    loops: Vec<Handle>,
    /// The loop the next connection goes to (modulo N).
    next: AtomicUsize,
    /// Set once the broker has stopped: the threads end.
    exit: watch::Sender<bool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl EventLoops {
    /// Starts `total - 1` threads with a single-threaded runtime each.
    pub fn start(total: usize) -> std::io::Result<EventLoops> {
        let (exit, _) = watch::channel(false);
        let mut loops = Vec::new();
        let mut threads = Vec::new();
        for i in 1..total.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            loops.push(runtime.handle().clone());
            let mut stop = exit.subscribe();
            let thread = std::thread::Builder::new()
                .name(format!("mqtk-loop-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    });
                })?;
            threads.push(thread);
        }
        Ok(EventLoops {
            loops,
            next: AtomicUsize::new(0),
            exit,
            threads: Mutex::new(threads),
        })
    }

    /// How many loops serve connections, the caller's included.
    fn count(&self) -> usize {
        self.loops.len() + 1
    }

    /// Runs `run(tcp)` on the next loop in turn: on the caller's runtime (loop 0), or
    /// with the socket moved to another loop's reactor first.
    pub fn spawn_tcp<F, Fut>(&self, tcp: TcpStream, run: F) -> std::io::Result<()>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.count();
        let Some(target) = i.checked_sub(1).map(|i| &self.loops[i]) else {
            tokio::spawn(run(tcp));
            return Ok(());
        };
        // Leaves this reactor; registered again on the target's, from its own thread,
        // where the connection's task is then spawned: everything the connection keeps
        // is allocated by the thread that frees it (malloc's arena of that loop), and
        // its task is the connection's future alone. This first task lives only until
        // that spawn: running the connection inside it instead would keep its
        // captures beside the connection's future, a 384-byte task instead of 256
        // for every connection on loops 1..N (memory per idle connection).
        let socket = tcp.into_std()?;
        target.spawn(async move {
            if let Ok(tcp) = TcpStream::from_std(socket) {
                tokio::spawn(run(tcp));
            }
        });
        Ok(())
    }

    /// Ends the loops' threads (their remaining tasks are dropped) and waits for them.
    pub fn stop(&self) {
        let _ = self.exit.send(true);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for EventLoops {
    fn drop(&mut self) {
        let _ = self.exit.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_take_the_loops_in_turn_and_run_on_their_own_thread() {
        let loops = EventLoops::start(3).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            loops
                .spawn_tcp(tcp, move |mut tcp| async move {
                    use tokio::io::AsyncWriteExt;
                    let name = std::thread::current().name().map(str::to_owned);
                    // The socket works on its new reactor.
                    tcp.write_all(b"x").await.unwrap();
                    let _ = tx.send(name);
                })
                .unwrap();
        }
        let mut names = Vec::new();
        for _ in 0..3 {
            let name = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            names.push(name);
        }
        names.sort();
        assert_eq!(names[1].as_deref(), Some("mqtk-loop-1"));
        assert_eq!(names[2].as_deref(), Some("mqtk-loop-2"));
        assert_ne!(names[0].as_deref(), Some("mqtk-loop-1"));
        for mut client in clients {
            use tokio::io::AsyncReadExt;
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte).await.unwrap();
        }
        loops.stop();
    }
}

//! Reading stdin line by line for `-l` and `--jsonl`: on a thread of its own, in
//! batches as they arrive (so `tail -f | mqtk pub -l` publishes each line at once), and
//! how large stdin is when it is a regular file (for a progress bar). Must not parse
//! the lines (that is `plan`).

use std::io::BufRead;
use std::os::fd::AsFd;

use bytes::Bytes;
use tokio::sync::mpsc;

/// The lines one read of stdin returned, without their line ends.
pub(super) struct Batch {
    pub lines: Vec<Bytes>,
    /// Bytes of stdin consumed up to the end of this batch.
    pub consumed: u64,
}

/// Reads stdin on its own thread and sends its lines in batches as they arrive (each
/// batch is what one read returned), without the line ends. A last line without a
/// newline is sent too.
pub(super) fn stdin_lines() -> mpsc::Receiver<std::io::Result<Batch>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut partial: Vec<u8> = Vec::new();
        let mut consumed = 0u64;
        loop {
            let chunk = match stdin.fill_buf() {
                Ok([]) => break,
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let mut lines = Vec::new();
            let mut rest = chunk;
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                if partial.is_empty() {
                    lines.push(Bytes::copy_from_slice(&rest[..end]));
                } else {
                    partial.extend_from_slice(&rest[..end]);
                    lines.push(Bytes::from(std::mem::take(&mut partial)));
                }
                rest = &rest[end + 1..];
            }
            partial.extend_from_slice(rest);
            let used = chunk.len();
            stdin.consume(used);
            consumed += used as u64;
            if !lines.is_empty() && tx.blocking_send(Ok(Batch { lines, consumed })).is_err() {
                return;
            }
        }
        if !partial.is_empty() {
            let lines = vec![Bytes::from(partial)];
            let _ = tx.blocking_send(Ok(Batch { lines, consumed }));
        }
    });
    rx
}

/// The size of stdin when it is a regular file (`< capture.jsonl`), else `None`.
pub(super) fn stdin_file_size() -> Option<u64> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(fd).metadata().ok()?;
    metadata.is_file().then_some(metadata.len())
}

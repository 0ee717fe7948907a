//! `--hdr-log FILE`: the latency histogram of each progress interval written in the
//! HdrHistogram interval log format (V2, deflate-compressed, base64), which
//! HistogramLogProcessor, HdrHistogram's plotter and other tools read. Values are µs.
//! A thread of its own owns the file, so the async run never blocks on disk.
//! Must not measure or merge: it writes the histograms it is given.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

/// One interval to write: its start (since the log's base time), length and histogram.
type Interval = (Duration, Duration, Histogram<u64>);

/// The writer thread and the channel feeding it.
pub struct HdrLog {
    tx: Option<mpsc::Sender<Interval>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    path: PathBuf,
}

impl HdrLog {
    /// Creates `path` (failing now if it cannot be) and starts the writer thread.
    /// Interval start times are relative to `base_time`.
    pub fn create(path: &Path, base_time: SystemTime) -> std::io::Result<HdrLog> {
        let file = File::create(path)?;
        let (tx, rx) = mpsc::channel::<Interval>();
        let thread = std::thread::Builder::new()
            .name("mqtk-hdr-log".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                let mut serializer = V2DeflateSerializer::new();
                {
                    let mut log = IntervalLogWriterBuilder::new()
                        .add_comment("mqtk bench end-to-end latency, values in microseconds")
                        .with_start_time(base_time)
                        .with_base_time(base_time)
                        .begin_log_with(&mut out, &mut serializer)?;
                    for (start, length, histogram) in rx {
                        log.write_histogram(&histogram, start, length, None)
                            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                    }
                }
                out.flush()
            })?;
        Ok(HdrLog {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// Queues one interval.
    pub fn write(&self, start: Duration, length: Duration, histogram: Histogram<u64>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((start, length, histogram));
        }
    }

    /// Writes what is queued and closes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other(format!(
                "writing {} failed",
                self.path.display()
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn intervals_read_back_with_the_crates_log_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.hlog");
        let log = HdrLog::create(&path, SystemTime::now()).unwrap();
        for i in 0..3u64 {
            let mut h = stats::new_histogram();
            for v in 0..100 {
                stats::record(&mut h, 100 * (i + 1) + v);
            }
            log.write(Duration::from_secs(i), Duration::from_secs(1), h);
        }
        log.finish().unwrap();
        let text = std::fs::read(&path).unwrap();
        let mut histograms = 0;
        for entry in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(interval) = entry.unwrap() {
                let bytes = base64_decode(interval.encoded_histogram());
                let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                assert_eq!(h.len(), 100);
                histograms += 1;
            }
        }
        assert_eq!(histograms, 3);
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}

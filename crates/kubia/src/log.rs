//! The server's stdout log, in the book's words (`Kubia server starting...`,
//! `Received request from <ip>`).
//!
//! One line per request is the hottest I/O the server does: Rust's stdout is line-buffered,
//! so `println!` costs one `write(2)` per request. Lines go into a shared buffer instead,
//! which is handed to a dedicated writer thread a few times a second, or as soon as it holds
//! 32 KiB.
//!
//! Logging must never block serving: with stdout a pipe nobody reads, a `write(2)` on an
//! async worker blocked that worker for good, and after ~3000 requests every worker, so the
//! server stopped answering, `/healthz` included, and failed its readiness probe. Only the
//! writer thread writes; it takes at most [`QUEUED_BATCHES`] batches, and a batch that finds
//! the queue full is dropped and its lines counted ([`Log::dropped`], and `/metrics`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Above this many buffered bytes, the logging request hands the buffer over at once.
const EAGER_FLUSH_BYTES: usize = 32 * 1024;
/// How long a line may wait in the buffer at low request rates.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Batches waiting for the writer at most (each up to about [`EAGER_FLUSH_BYTES`]).
pub const QUEUED_BATCHES: usize = 8;
/// How long [`Log::drain`] waits for the writer on shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A cheap, cloneable handle to the buffered log.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

struct Inner {
    buf: Mutex<Vec<u8>>,
    to_writer: SyncSender<Vec<u8>>,
    /// Lines dropped because the writer was behind.
    dropped: AtomicU64,
    /// Batches handed to the writer, and batches it has written (or failed to write).
    progress: Arc<(Mutex<(u64, u64)>, Condvar)>,
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

impl Log {
    /// An empty buffer and its writer thread, writing to stdout; lines reach it on
    /// [`Log::flush`] or from [`Log::spawn_flusher`].
    pub fn new() -> Self {
        Self::to(std::io::stdout())
    }

    /// The same, writing to `out` (tests give it a pipe nobody reads).
    pub fn to(out: impl Write + Send + 'static) -> Self {
        let (to_writer, batches) = sync_channel(QUEUED_BATCHES);
        let progress = Arc::new((Mutex::new((0, 0)), Condvar::new()));
        let written = Arc::clone(&progress);
        // If the thread cannot be started the log is lost, never the server.
        let _ = std::thread::Builder::new()
            .name("kubia-log".into())
            .spawn(move || write_batches(out, &batches, &written));
        Log {
            inner: Arc::new(Inner {
                buf: Mutex::new(Vec::new()),
                to_writer,
                dropped: AtomicU64::new(0),
                progress,
            }),
        }
    }

    /// Appends one line (a newline is added).
    pub fn line(&self, args: std::fmt::Arguments<'_>) {
        let full = {
            let mut buf = self.lock();
            // Writing into a Vec cannot fail.
            let _ = buf.write_fmt(args);
            buf.push(b'\n');
            buf.len() >= EAGER_FLUSH_BYTES
        };
        if full {
            self.flush();
        }
    }

    /// Hands everything buffered so far to the writer, without waiting: when the writer is
    /// [`QUEUED_BATCHES`] behind (stdout blocked), the lines are dropped and counted.
    pub fn flush(&self) {
        // Taken and sent under the lock, so batches reach the writer in the order their
        // lines were logged even when the flusher and a request flush at once.
        let mut buf = self.lock();
        if buf.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut *buf);
        let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        match self.inner.to_writer.try_send(bytes) {
            Ok(()) => {
                let (count, _) = &*self.inner.progress;
                count.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.inner.dropped.fetch_add(lines, Ordering::Relaxed);
            }
        }
    }

    /// [`Log::flush`], then waits (at most `timeout`) until the writer has written every
    /// batch handed to it; true if it has. Called on shutdown, so that a readable stdout
    /// loses nothing and a blocked one does not hold the exit.
    pub fn drain(&self, timeout: Duration) -> bool {
        self.flush();
        let (count, written) = &*self.inner.progress;
        let guard = count.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = written
            .wait_timeout_while(guard, timeout, |(sent, done)| done < sent)
            .unwrap_or_else(|e| e.into_inner());
        guard.1 >= guard.0
    }

    /// Lines dropped so far because stdout was not being read.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Flushes every [`FLUSH_INTERVAL`] until the runtime shuts down.
    pub fn spawn_flusher(&self) -> tokio::task::JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                log.flush();
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves only bytes behind; keep logging.
        self.inner.buf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer thread: writes each batch, counts it written, until every handle is gone.
fn write_batches(
    mut out: impl Write,
    batches: &Receiver<Vec<u8>>,
    progress: &(Mutex<(u64, u64)>, Condvar),
) {
    while let Ok(bytes) = batches.recv() {
        // A closed stdout (e.g. a vanished pipe) must not take the server down.
        let _ = out.write_all(&bytes).and_then(|()| out.flush());
        let (count, written) = progress;
        count.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that blocks forever, like a pipe nobody reads once it is full.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            loop {
                std::thread::park();
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stdout_never_blocks_the_logger_and_drops_are_counted() {
        let log = Log::to(Stuck);
        let start = std::time::Instant::now();
        for i in 0..200_000 {
            log.line(format_args!("Received request from ::ffff:127.0.0.1 {i}"));
        }
        log.flush();
        assert!(
            !log.drain(Duration::from_millis(50)),
            "nothing can be written"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "logging waited on the writer"
        );
        // About QUEUED_BATCHES + 1 batches of 32 KiB got away (~800 lines each); the rest
        // were dropped and counted.
        let dropped = log.dropped();
        assert!(dropped > 150_000 && dropped < 200_000, "{dropped} dropped");
    }

    #[test]
    fn a_read_stdout_gets_every_line_in_order() {
        let out = Shared::default();
        let log = Log::to(out.clone());
        for i in 0..50_000 {
            log.line(format_args!("line {i}"));
            if i % 1000 == 0 {
                // Give the writer time, as the flusher's ticks do.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(log.drain(DRAIN_TIMEOUT));
        let text = String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let expected: Vec<String> = (0..50_000 - log.dropped())
            .map(|i| format!("line {i}"))
            .collect();
        assert_eq!(log.dropped(), 0, "a writer that keeps up loses nothing");
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}

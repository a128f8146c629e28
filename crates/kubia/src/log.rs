//! The server's stdout log, in the book's words (`Kubia server starting...`,
//! `Received request from <ip>`).
//!
//! One line per request is the hottest I/O the server does: Rust's stdout is line-buffered,
//! so `println!` costs one `write(2)` per request. Lines go into a shared buffer instead and
//! are written out by a background task a few times a second, or as soon as the buffer
//! holds 32 KiB. `flush` is called on shutdown so nothing is lost.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Above this many buffered bytes, the logging request writes the buffer itself.
const EAGER_FLUSH_BYTES: usize = 32 * 1024;
/// How long a line may wait in the buffer at low request rates.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A cheap, cloneable handle to the buffered log.
#[derive(Clone, Default)]
pub struct Log {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Log {
    /// An empty buffer; lines reach stdout on [`Log::flush`] or from [`Log::spawn_flusher`].
    pub fn new() -> Self {
        Self::default()
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

    /// Writes out everything buffered so far.
    ///
    /// stdout is locked before the buffer is taken, so batches reach stdout in the order
    /// their lines were logged even when the flusher and a request flush at once.
    pub fn flush(&self) {
        let mut out = std::io::stdout().lock();
        let bytes = std::mem::take(&mut *self.lock());
        if !bytes.is_empty() {
            // A closed stdout (e.g. a vanished pipe) must not take the server down.
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
        }
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
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

//! Cooperative cancellation (Ctrl-C).
//!
//! Why cooperative: an update is a sequence of API calls, each of which leaves the cluster in a
//! resumable state. Aborting the process in the middle of one is also safe (the server applies
//! a request entirely or not at all), but stopping *between* calls lets the engine tell the
//! user exactly how to resume or roll back. The engine checks the token before every API call
//! and during every sleep.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// A cloneable flag that the CLI sets on SIGINT and the engine observes.
#[derive(Debug, Clone)]
pub struct Cancel {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Cancel {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Requests cancellation; every clone sees it.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once cancellation is requested.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }

    /// Sleeps for `duration`, returning `false` early if cancelled.
    pub async fn sleep(&self, duration: Duration) -> bool {
        if self.is_cancelled() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            () = self.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancel_wakes_sleepers_and_is_seen_by_clones() {
        let cancel = Cancel::new();
        let clone = cancel.clone();
        assert!(!clone.is_cancelled());
        assert!(cancel.sleep(Duration::from_millis(1)).await);
        let sleeper = tokio::spawn(async move { clone.sleep(Duration::from_secs(60)).await });
        cancel.cancel();
        assert!(!sleeper.await.unwrap_or(true));
        assert!(cancel.is_cancelled());
        assert!(!cancel.sleep(Duration::from_secs(60)).await);
    }
}

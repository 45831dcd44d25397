//! Waiting between retries of a failing dependency, and sleeping until shutdown.

use std::time::Duration;
use tokio::sync::watch;

/// Retry waits for a failing dependency: 100 ms, doubling per failure up to 5 s, back to
/// 100 ms after a success.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// Waits before the next attempt unless told to stop first; returns whether to stop.
    pub(crate) async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let stop = sleep_or_stop(shutdown, self.next).await;
        self.next = (self.next * 2).min(Self::MOST);
        stop
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Sleeps unless told to stop first; returns whether to stop.
async fn sleep_or_stop(shutdown: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

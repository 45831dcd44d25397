//! The worker's view of the log: one reader in its own task, feeding a queue, so reading
//! overlaps with deciding. The reader acknowledges what the store stage has stored (records
//! of other workers' partitions count as processed once a batch after them is stored),
//! re-opens its consumer after a read error at the record after the last one it passed on,
//! and — on a log shared by several workers — commits how far this worker has processed the
//! log: the stored offset, or the log's head when the broker says nothing is waiting for this
//! worker. The lowest of the workers' commits is the whole log's position for every node
//! ([`unmogrowp_bus::EventLog::watermark`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use unmogrowp_bus::{EventLog, Offset};

/// A record as the pipeline reads it: partition, offset, encoded record.
pub(crate) type Record = (u16, Offset, Vec<u8>);

/// Read batches waiting between the reader and the pipeline, at most (each up to the
/// pipeline's batch size).
const QUEUED_PARTS: usize = 4;

/// How often the reader on a shared log commits this worker's progress.
const COMMIT_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Feed {
    receiver: mpsc::Receiver<Vec<Record>>,
    leftover: VecDeque<Record>,
    task: tokio::task::JoinHandle<()>,
}

impl Feed {
    /// Starts the reader of consumer `name` at offset `from`. Returns the feed and where the
    /// store stage says up to which offset everything read is processed.
    pub(crate) fn start(
        log: &Arc<dyn EventLog>,
        name: String,
        from: Offset,
        batch_size: usize,
        stop: &watch::Receiver<bool>,
    ) -> (Self, watch::Sender<Offset>) {
        let (sender, receiver) = mpsc::channel(QUEUED_PARTS);
        let (acks, acked) = watch::channel(from.saturating_sub(1));
        let reader = Reader {
            log: log.clone(),
            name,
            next: from.max(1),
            batch_size,
            sender,
            acked,
            stop: stop.clone(),
        };
        let task = tokio::spawn(reader.run());
        (Self { receiver, leftover: VecDeque::new(), task }, acks)
    }

    /// Up to `max` records, waiting up to `wait` for the first; an empty batch means nothing
    /// arrived in time (or the reader stopped).
    pub(crate) async fn next_batch(&mut self, max: usize, wait: Duration) -> Vec<Record> {
        let mut batch = Vec::new();
        if self.leftover.is_empty() {
            match tokio::time::timeout(wait, self.receiver.recv()).await {
                Ok(Some(part)) => self.leftover.extend(part),
                Ok(None) | Err(_) => return batch,
            }
        }
        loop {
            while batch.len() < max {
                match self.leftover.pop_front() {
                    Some(record) => batch.push(record),
                    None => break,
                }
            }
            if batch.len() >= max {
                return batch;
            }
            match self.receiver.try_recv() {
                Ok(part) => self.leftover.extend(part),
                Err(_) => return batch,
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Reader {
    log: Arc<dyn EventLog>,
    /// The consumer's name (on a shared log, this worker's: `pipeline-w<ordinal>`).
    name: String,
    /// The first offset not yet passed on.
    next: Offset,
    batch_size: usize,
    sender: mpsc::Sender<Vec<Record>>,
    acked: watch::Receiver<Offset>,
    stop: watch::Receiver<bool>,
}

impl Reader {
    async fn run(mut self) {
        let shared = self.log.relays_live();
        let mut committed = 0;
        let mut backoff = crate::Backoff::new();
        loop {
            if *self.stop.borrow() {
                return;
            }
            let mut reader = match self.log.consumer(&self.name, self.next).await {
                Ok(reader) => reader,
                Err(error) => {
                    tracing::error!(%error, "the pipeline cannot read the event log");
                    if backoff.wait(&mut self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            let mut last_commit = tokio::time::Instant::now();
            loop {
                if *self.stop.borrow() {
                    return;
                }
                if self.acked.has_changed().unwrap_or(false) {
                    let stored = *self.acked.borrow_and_update();
                    if let Err(error) = reader.ack(stored).await {
                        tracing::warn!(%error, "cannot acknowledge the stored records to the log");
                    }
                }
                if shared && last_commit.elapsed() >= COMMIT_EVERY {
                    last_commit = tokio::time::Instant::now();
                    // The head is read before asking the broker: whatever is below it was
                    // delivered and acknowledged if nothing is waiting.
                    let head = self.log.head();
                    let stored = *self.acked.borrow();
                    let processed = match reader.caught_up().await {
                        Ok(true) => head.max(stored),
                        Ok(false) => stored,
                        Err(error) => {
                            tracing::debug!(%error, "cannot read the consumer's state");
                            stored
                        }
                    };
                    if processed > committed {
                        match self.log.commit(&self.name, processed).await {
                            Ok(()) => committed = processed,
                            Err(error) => {
                                tracing::warn!(%error, "cannot record the worker's progress")
                            }
                        }
                    }
                }
                match reader.next_partitioned(self.batch_size, Duration::from_millis(200)).await {
                    Ok(records) if records.is_empty() => {}
                    Ok(records) => {
                        backoff.reset();
                        self.next = records.last().map_or(self.next, |(_, offset, _)| offset + 1);
                        if self.sender.send(records).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "reading the event log failed; re-opening it");
                        if backoff.wait(&mut self.stop).await {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    }
}

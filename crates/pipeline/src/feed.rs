//! The worker's view of the log: one reader per partition it owns, each in its own task, all
//! feeding one queue. A partition's records stay in order (one task, one queue); partitions
//! interleave freely (they hold different apps). Each task acknowledges its partition's
//! records once the store stage has stored them, re-opens its consumer after a read error at
//! the record after the last one it passed on, and — on a log shared by several workers —
//! commits how far its partition is processed: the store's position, or the log's head when
//! the broker says nothing of the partition is waiting. The lowest of those commits is the
//! whole log's position for every node ([`unmogrowp_bus::EventLog::watermark`]).

use crate::{CONSUMER, sleep_or_stop};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use unmogrowp_bus::{EventLog, Offset};

/// A record as the pipeline reads it: partition, offset, encoded record.
pub(crate) type Record = (u16, Offset, Vec<u8>);

/// Read batches waiting between the partition readers and the pipeline, at most (each up to
/// the pipeline's batch size).
const QUEUED_PARTS: usize = 8;

/// How often a partition reader on a shared log commits its progress.
const COMMIT_EVERY: Duration = Duration::from_millis(250);

struct Part {
    partition: u16,
    records: Vec<(Offset, Vec<u8>)>,
}

pub(crate) struct Feed {
    receiver: mpsc::Receiver<Part>,
    leftover: VecDeque<Record>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Where the store stage says what it has stored, per partition (the readers acknowledge it).
pub(crate) type Stored = BTreeMap<u16, watch::Sender<Offset>>;

impl Feed {
    /// Starts one reader per entry of `from` (partition → the first offset to read).
    pub(crate) fn start(
        log: &Arc<dyn EventLog>,
        from: &BTreeMap<u16, Offset>,
        batch_size: usize,
        stop: &watch::Receiver<bool>,
    ) -> (Self, Stored) {
        let (sender, receiver) = mpsc::channel(QUEUED_PARTS);
        let mut stored = BTreeMap::new();
        let mut tasks = Vec::with_capacity(from.len());
        for (partition, first) in from {
            let (acks, acked) = watch::channel(first.saturating_sub(1));
            stored.insert(*partition, acks);
            let reader = PartitionReader {
                log: log.clone(),
                partition: *partition,
                next: (*first).max(1),
                batch_size,
                sender: sender.clone(),
                acked,
                stop: stop.clone(),
            };
            tasks.push(tokio::spawn(reader.run()));
        }
        (Self { receiver, leftover: VecDeque::new(), tasks }, stored)
    }

    /// Up to `max` records, waiting up to `wait` for the first; an empty batch means nothing
    /// arrived in time (or every reader stopped).
    pub(crate) async fn next_batch(&mut self, max: usize, wait: Duration) -> Vec<Record> {
        let mut batch = Vec::new();
        if self.leftover.is_empty() {
            match tokio::time::timeout(wait, self.receiver.recv()).await {
                Ok(Some(part)) => self.leftover.extend(spread(part)),
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
                Ok(part) => self.leftover.extend(spread(part)),
                Err(_) => return batch,
            }
        }
    }
}

fn spread(part: Part) -> impl Iterator<Item = Record> {
    let partition = part.partition;
    part.records.into_iter().map(move |(offset, bytes)| (partition, offset, bytes))
}

impl Drop for Feed {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct PartitionReader {
    log: Arc<dyn EventLog>,
    partition: u16,
    /// The first offset not yet passed on.
    next: Offset,
    batch_size: usize,
    sender: mpsc::Sender<Part>,
    acked: watch::Receiver<Offset>,
    stop: watch::Receiver<bool>,
}

impl PartitionReader {
    async fn run(mut self) {
        let shared = self.log.relays_live();
        let name = unmogrowp_bus::partition_consumer_name(CONSUMER, self.partition);
        let mut committed = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            if *self.stop.borrow() {
                return;
            }
            let mut reader =
                match self.log.partition_consumer(CONSUMER, self.partition, self.next).await {
                    Ok(reader) => reader,
                    Err(error) => {
                        tracing::error!(%error, partition = self.partition,
                            "the pipeline cannot read its partition of the event log");
                        if sleep_or_stop(&mut self.stop, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
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
                        tracing::warn!(%error, partition = self.partition,
                            "cannot acknowledge the stored records to the log");
                    }
                }
                if shared && last_commit.elapsed() >= COMMIT_EVERY {
                    last_commit = tokio::time::Instant::now();
                    // The head is read before asking the broker: whatever of this partition
                    // is below it was delivered and acknowledged if nothing is waiting.
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
                        match self.log.commit(&name, processed).await {
                            Ok(()) => committed = processed,
                            Err(error) => tracing::warn!(%error, partition = self.partition,
                                "cannot record the partition's progress"),
                        }
                    }
                }
                match reader.next_batch(self.batch_size, Duration::from_millis(200)).await {
                    Ok(records) if records.is_empty() => {}
                    Ok(records) => {
                        backoff = Duration::from_millis(100);
                        self.next = records.last().map_or(self.next, |(offset, _)| offset + 1);
                        let part = Part { partition: self.partition, records };
                        if self.sender.send(part).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, partition = self.partition,
                            "reading the event log failed; re-opening the partition");
                        if sleep_or_stop(&mut self.stop, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        break;
                    }
                }
            }
        }
    }
}

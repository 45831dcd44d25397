//! Readers of the NATS log: ordered consumers for replays, and the worker's durable consumer
//! (records in sequence order, redeliveries skipped, acknowledged once stored).

use super::failed;
use crate::{LogError, LogReader, Offset};
use async_nats::jetstream;
use futures::{FutureExt, StreamExt};
use std::time::Duration;

pub(super) struct NatsReader {
    pub(super) messages: jetstream::consumer::pull::Ordered,
}

#[async_trait::async_trait]
impl LogReader for NatsReader {
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(Offset, Vec<u8>)>, LogError> {
        let mut batch = Vec::new();
        let first = match tokio::time::timeout(wait, self.messages.next()).await {
            Err(_) | Ok(None) => return Ok(batch),
            Ok(Some(first)) => first.map_err(|error| failed("reading", error))?,
        };
        push(&mut batch, &first)?;
        while batch.len() < max {
            match self.messages.next().now_or_never() {
                Some(Some(message)) => {
                    push(&mut batch, &message.map_err(|error| failed("reading", error))?)?;
                }
                _ => break,
            }
        }
        Ok(batch)
    }
}

/// A durable consumer's reader: records in sequence order (redeliveries of records already
/// returned are skipped), the newest record of each batch kept until it is acknowledged (with
/// ack-all, acknowledging it covers the records before it).
pub(super) struct DurableReader {
    pub(super) stream: jetstream::stream::Stream,
    pub(super) consumer: jetstream::consumer::Consumer<jetstream::consumer::pull::Config>,
    /// `<prefix>.events.`: what precedes a record's partition in its subject.
    pub(super) subject_prefix: String,
    pub(super) partitions: u16,
    pub(super) messages: jetstream::consumer::pull::Stream,
    pub(super) last: Offset,
    pub(super) unacked: std::collections::VecDeque<(Offset, jetstream::Message)>,
}

impl DurableReader {
    /// Adds the message unless it was returned before; keeps the newest for the ack. A record
    /// that skips over others still in the stream (one lost on the way, e.g. across a
    /// reconnection) is an error: acknowledging past the hole would lose the records in it, so
    /// the caller re-creates the consumer at its own position instead.
    async fn take(
        &mut self,
        batch: &mut Vec<(u16, Offset, Vec<u8>)>,
        newest: &mut Option<jetstream::Message>,
        message: jetstream::Message,
    ) -> Result<(), LogError> {
        let info = message.info().map_err(|error| failed("reading a record's position", error))?;
        let sequence = info.stream_sequence;
        if sequence <= self.last {
            return Ok(());
        }
        if sequence > self.last + 1 {
            let mut stream = self.stream.clone();
            let first = stream
                .info()
                .await
                .map_err(|error| failed("reading the stream's first record", error))?
                .state
                .first_sequence;
            // Records below the stream's first one were purged by retention: not a hole.
            if sequence > first.max(self.last + 1) {
                return Err(LogError::Failed(format!(
                    "NATS delivered record {sequence} after {}: the records in between did not arrive; re-reading from the last stored record",
                    self.last
                )));
            }
        }
        self.last = sequence;
        let partition = partition_of_subject(
            message.subject.as_str().strip_prefix(&self.subject_prefix).unwrap_or_default(),
            self.partitions,
        );
        batch.push((partition, sequence, message.payload.to_vec()));
        *newest = Some(message);
        Ok(())
    }
}

#[async_trait::async_trait]
impl LogReader for DurableReader {
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(Offset, Vec<u8>)>, LogError> {
        let batch = self.next_partitioned(max, wait).await?;
        Ok(batch.into_iter().map(|(_, offset, payload)| (offset, payload)).collect())
    }

    async fn next_partitioned(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(u16, Offset, Vec<u8>)>, LogError> {
        let mut batch = Vec::new();
        let mut newest = None;
        let deadline = tokio::time::Instant::now() + wait;
        // Wait for a first new record (redeliveries do not count).
        while batch.is_empty() {
            let next = match tokio::time::timeout_at(deadline, self.messages.next()).await {
                Err(_) | Ok(None) => return Ok(batch),
                Ok(Some(next)) => next.map_err(|error| failed("reading", error))?,
            };
            self.take(&mut batch, &mut newest, next).await?;
        }
        while batch.len() < max {
            match self.messages.next().now_or_never() {
                Some(Some(message)) => {
                    let message = message.map_err(|error| failed("reading", error))?;
                    self.take(&mut batch, &mut newest, message).await?;
                }
                _ => break,
            }
        }
        if let Some(message) = newest {
            self.unacked.push_back((self.last, message));
        }
        Ok(batch)
    }

    async fn ack(&mut self, offset: Offset) -> Result<(), LogError> {
        let mut covering = None;
        while self.unacked.front().is_some_and(|(sequence, _)| *sequence <= offset) {
            covering = self.unacked.pop_front();
        }
        if let Some((_, message)) = covering {
            // Confirmed by the server, so the broker's ack floor is current when this returns.
            message.double_ack().await.map_err(|error| failed("acknowledging a record", error))?;
        }
        Ok(())
    }

    async fn caught_up(&mut self) -> Result<bool, LogError> {
        let info = self
            .consumer
            .info()
            .await
            .map_err(|error| failed("reading the consumer's state", error))?;
        Ok(info.num_pending == 0 && info.num_ack_pending == 0 && self.unacked.is_empty())
    }
}

/// The partition of a record from its subject after `<prefix>.events.`: `<partition>.<app>`;
/// a record appended before the log was partitioned (`<app>` alone) is in its app's partition.
pub(super) fn partition_of_subject(rest: &str, partitions: u16) -> u16 {
    match rest.split_once('.') {
        Some((partition, _)) => partition.parse().unwrap_or(0),
        None => unmogrowp_domain::hash::partition_of(rest, partitions),
    }
}

pub(super) fn push(
    batch: &mut Vec<(Offset, Vec<u8>)>,
    message: &jetstream::Message,
) -> Result<(), LogError> {
    let info = message.info().map_err(|error| failed("reading a record's position", error))?;
    batch.push((info.stream_sequence, message.payload.to_vec()));
    Ok(())
}

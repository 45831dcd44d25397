//! The event log on NATS JetStream, shared by every node of a cluster.
//!
//! One stream, `<PREFIX>_EVENTS`, takes every record on the subject
//! `<prefix>.events.<partition>.<app>`, the partition being the app id's
//! [`unmogrowp_domain::hash::partition_of`] (the count is fixed for the stream's life and kept
//! in its description; a different count is refused at connect). The stream's sequence is the
//! offset, so the log stays totally ordered and each app's records keep their order. Each
//! worker reads the whole stream through its own durable consumer and decides the records of
//! its partitions (read from each record's subject); NATS 2.9 consumers take one filter, and
//! a filtered consumer scans the stream for its subjects, which at 64 partitions cost the
//! broker most of the machine (BENCHMARKS.md). Each worker records its progress as
//! `<consumer>-w<ordinal>`, and the lowest of those is how far the whole log is processed. Appends publish with the record's key as
//! `Nats-Msg-Id`, so the broker drops a retried duplicate inside its duplicate window, and an
//! append returns only once JetStream has acknowledged every record (acks are awaited in
//! windows, never left to pile up). Readers are ordered consumers starting at any sequence,
//! which is how the attribution index and the event store are rebuilt by replay. The worker
//! reads through a durable consumer (ack-all), acknowledging each batch once the event store
//! holds it; it is re-created at the event store's offset when the worker starts, since that
//! offset is written with the data and so exact after a crash. Consumers also record what they have processed in a second stream,
//! `<PREFIX>_OFFSETS` (one subject per consumer, newest message only), which retention reads
//! before purging.

mod reader;

use crate::{Entry, EventLog, LogError, LogReader, Offset};
use async_nats::jetstream;
use futures::StreamExt;
#[cfg(test)]
use reader::partition_of_subject;
use reader::{DurableReader, NatsReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Publishes in flight before their acks are awaited.
const ACK_WINDOW: usize = 512;

/// Settings of a [`NatsLog`]; [`NatsLogOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct NatsLogOptions {
    /// `nats://HOST:PORT`.
    pub url: String,
    /// Names the stream, bucket and subjects, so deployments can share one NATS.
    pub prefix: String,
    /// How long the broker remembers message ids for de-duplication.
    pub duplicate_window: Duration,
    /// Replicas of the stream and bucket (1 for a single NATS server).
    pub replicas: usize,
    /// Partitions the log is split into (1 to 256); fixed once the stream exists.
    pub partitions: u16,
}

impl NatsLogOptions {
    /// Options for the server at `url` under `prefix`, with the defaults: a 10-minute
    /// duplicate window, 1 replica and 64 partitions.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            duplicate_window: Duration::from_secs(600),
            replicas: 1,
            partitions: 64,
        }
    }
}

/// The cluster [`EventLog`] on NATS JetStream, shared by every node.
///
/// Records go to the stream `<PREFIX>_EVENTS`, whose sequence is the [`Offset`]; each app's
/// records land in one of a fixed number of partitions. Appends are de-duplicated by key within
/// the broker's duplicate window, workers read through durable consumers, and committed
/// positions live in the `<PREFIX>_OFFSETS` stream. It also relays the live feed between
/// nodes ([`EventLog::relays_live`] is `true`).
pub struct NatsLog {
    client: async_nats::Client,
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    offsets: jetstream::stream::Stream,
    subject_prefix: String,
    partitions: u16,
    head: Arc<AtomicU64>,
    closed: AtomicBool,
    refresher: tokio::task::JoinHandle<()>,
}

fn failed(what: &str, error: impl std::fmt::Display) -> LogError {
    LogError::Failed(format!("NATS {what}: {error}"))
}

/// The name-safe form of a prefix: letters, digits, `_` and `-`.
fn token(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if cleaned.is_empty() { "_".to_owned() } else { cleaned }
}

/// The subject a record goes to: its app's partition, then the app (the key's part before
/// the first `:`).
fn subject_for(prefix: &str, partitions: u16, key: &str) -> String {
    let app = key.split(':').next().unwrap_or_default();
    let partition = unmogrowp_domain::hash::partition_of(app, partitions);
    format!("{prefix}.events.{partition}.{}", token(app))
}

/// The stream's description, which records its partition count.
fn layout_description(partitions: u16) -> String {
    format!("unmogrowp event log; partitions={partitions}")
}

/// The partition count a stream's description records (`None`: a stream made before the log
/// was partitioned).
fn described_partitions(description: Option<&str>) -> Option<u16> {
    description?
        .split("partitions=")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl NatsLog {
    /// Payloads of core NATS subject `<prefix>.<name>` from now on (1024 waiting at most: a
    /// reader that falls further behind stalls the subscription, not the publishers).
    async fn subscribe_core(
        &self,
        name: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Vec<u8>>, LogError> {
        use futures::StreamExt as _;
        let mut subscription = self
            .client
            .subscribe(format!("{}.{name}", self.subject_prefix))
            .await
            .map_err(|error| failed("subscribe", error))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                if sender.send(message.payload.to_vec()).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }

    /// Connects to NATS (5 s connection timeout, retrying the first connection), creates the
    /// events and offsets streams if they do not exist, and starts a task that refreshes
    /// [`EventLog::head`] every 250 ms (other nodes append too).
    ///
    /// An existing stream's duplicate window is brought to the configured one. Fails with
    /// [`LogError::Failed`] when NATS cannot be reached or refuses a stream operation, when
    /// `options.partitions` is outside 1 to 256
    /// ([`unmogrowp_domain::hash::MAX_PARTITIONS`]), or when the existing stream was created
    /// with a different partition count.
    pub async fn connect(options: NatsLogOptions) -> Result<Self, LogError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .name("unmogrowp")
            .connect(&options.url)
            .await
            .map_err(|error| failed(&format!("connecting to {}", options.url), error))?;
        let context = jetstream::new(client.clone());
        let partitions = options.partitions.clamp(1, unmogrowp_domain::hash::MAX_PARTITIONS);
        if partitions != options.partitions {
            return Err(LogError::Failed(format!(
                "the event log's partition count must be 1 to {}, not {}",
                unmogrowp_domain::hash::MAX_PARTITIONS,
                options.partitions
            )));
        }
        let prefix = token(&options.prefix);
        let subject_prefix = prefix.clone();
        let events_config = jetstream::stream::Config {
            name: format!("{}_EVENTS", prefix.to_uppercase()),
            subjects: vec![format!("{subject_prefix}.events.>")],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: options.duplicate_window,
            num_replicas: options.replicas,
            description: Some(layout_description(partitions)),
            ..Default::default()
        };
        let mut stream = context
            .get_or_create_stream(events_config.clone())
            .await
            .map_err(|error| failed("creating the stream", error))?;
        // Apps are assigned to partitions by the count: another count would move them, and
        // with them the positions stored per partition.
        let described = described_partitions(stream.cached_info().config.description.as_deref());
        if let Some(existing) = described.filter(|existing| *existing != partitions) {
            return Err(LogError::Failed(format!(
                "the event log {} has {existing} partitions; this node is configured with {partitions} \
                 (pipeline.partitions must not change for an existing log)",
                events_config.name
            )));
        }
        // A stream created earlier keeps its settings: bring its duplicate window to the
        // configured one, and record the partition count on a stream made before partitions.
        if stream.cached_info().config.duplicate_window != options.duplicate_window
            || described.is_none()
        {
            let mut config = stream.cached_info().config.clone();
            config.duplicate_window = options.duplicate_window;
            config.description = Some(layout_description(partitions));
            context
                .update_stream(config)
                .await
                .map_err(|error| failed("updating the stream's duplicate window", error))?;
            stream = context
                .get_stream(&events_config.name)
                .await
                .map_err(|error| failed("reading the stream", error))?;
            tracing::info!(
                window_s = options.duplicate_window.as_secs(),
                partitions,
                "the event log's settings were updated"
            );
        }
        // Consumer offsets: one subject per consumer, only the newest message kept.
        let offsets = context
            .get_or_create_stream(jetstream::stream::Config {
                name: format!("{}_OFFSETS", prefix.to_uppercase()),
                subjects: vec![format!("{subject_prefix}.offsets.>")],
                storage: jetstream::stream::StorageType::File,
                max_messages_per_subject: 1,
                num_replicas: options.replicas,
                ..Default::default()
            })
            .await
            .map_err(|error| failed("creating the offsets stream", error))?;
        let head = Arc::new(AtomicU64::new(0));
        let mut info_stream = stream.clone();
        if let Ok(info) = info_stream.info().await {
            head.store(info.state.last_sequence, Ordering::Release);
        }
        // Other nodes append too: keep `head` current for lag and backpressure.
        let refreshed = head.clone();
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Ok(info) = info_stream.info().await {
                    refreshed.fetch_max(info.state.last_sequence, Ordering::AcqRel);
                }
            }
        });
        Ok(Self {
            client,
            context,
            stream,
            offsets,
            subject_prefix,
            partitions,
            head,
            closed: AtomicBool::new(false),
            refresher,
        })
    }

    /// (Re-)creates the durable consumer `durable` at `from`. The caller's position (the
    /// event store's offset, written with its data) is the one that is exact after a crash:
    /// the consumer is re-created there, whatever ack floor the broker kept.
    async fn durable(&self, durable: &str, from: Offset) -> Result<Box<dyn LogReader>, LogError> {
        let durable = durable.to_owned();
        if let Err(error) = self.stream.delete_consumer(&durable).await {
            // Usually "not found" (the first start); otherwise creating it below fails loudly.
            tracing::debug!(%error, "deleting the previous durable consumer");
        }
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::Config {
                durable_name: Some(durable.clone()),
                description: Some("unmogrowp pipeline: acked once stored".to_owned()),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ack_policy: jetstream::consumer::AckPolicy::All,
                // Long enough for a store outage without mass redeliveries; redelivered
                // records are skipped by sequence anyway.
                ack_wait: Duration::from_secs(600),
                max_ack_pending: -1,
                ..Default::default()
            })
            .await
            .map_err(|error| failed("creating the durable consumer", error))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|error| failed("opening the durable consumer", error))?;
        Ok(Box::new(DurableReader {
            stream: self.stream.clone(),
            consumer,
            subject_prefix: format!("{}.events.", self.subject_prefix),
            partitions: self.partitions,
            messages,
            last: from.saturating_sub(1),
            unacked: std::collections::VecDeque::new(),
        }))
    }

    fn offset_subject(&self, consumer: &str) -> String {
        format!("{}.offsets.{}", self.subject_prefix, token(consumer))
    }
}

impl Drop for NatsLog {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

#[async_trait::async_trait]
impl EventLog for NatsLog {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn relays_live(&self) -> bool {
        true
    }

    /// Core NATS (not JetStream): `<prefix>.live`, delivered to the nodes subscribed now.
    async fn publish_live(&self, payload: Vec<u8>) -> Result<(), LogError> {
        self.client
            .publish(format!("{}.live", self.subject_prefix), payload.into())
            .await
            .map_err(|error| failed("live publish", error))
    }

    async fn subscribe_live(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<u8>>>, LogError> {
        self.subscribe_core("live").await.map(Some)
    }

    /// Core NATS: `<prefix>.collab`, delivered to the nodes subscribed now.
    async fn publish_collab(&self, payload: Vec<u8>) -> Result<(), LogError> {
        self.client
            .publish(format!("{}.collab", self.subject_prefix), payload.into())
            .await
            .map_err(|error| failed("collab publish", error))
    }

    async fn subscribe_collab(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<u8>>>, LogError> {
        self.subscribe_core("collab").await.map(Some)
    }

    #[tracing::instrument(name = "event_log.append", skip_all, fields(log = "nats", records = entries.len()))]
    async fn append(&self, entries: Vec<Entry>) -> Result<Offset, LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let mut last = 0;
        let mut pending = Vec::with_capacity(ACK_WINDOW.min(entries.len()));
        for entry in entries {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", entry.key.as_str());
            let ack = self
                .context
                .publish_with_headers(
                    subject_for(&self.subject_prefix, self.partitions, &entry.key),
                    headers,
                    entry.payload.into(),
                )
                .await
                .map_err(|error| failed("publishing", error))?;
            pending.push(ack);
            if pending.len() >= ACK_WINDOW {
                for ack in pending.drain(..) {
                    let ack = ack.await.map_err(|error| failed("acknowledging", error))?;
                    last = last.max(ack.sequence);
                }
            }
        }
        for ack in pending {
            let ack = ack.await.map_err(|error| failed("acknowledging", error))?;
            last = last.max(ack.sequence);
        }
        self.head.fetch_max(last, Ordering::AcqRel);
        metrics::counter!(crate::metric_names::LOG_APPENDS_TOTAL).increment(1);
        Ok(last)
    }

    fn head(&self) -> Offset {
        self.head.load(Ordering::Acquire)
    }

    async fn reader(&self, from: Offset) -> Result<Box<dyn LogReader>, LogError> {
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|error| failed("creating a reader", error))?;
        let messages =
            consumer.messages().await.map_err(|error| failed("opening a reader", error))?;
        Ok(Box::new(NatsReader { messages }))
    }

    fn partitions(&self) -> u16 {
        self.partitions
    }

    #[tracing::instrument(name = "event_log.consumer", skip_all, fields(log = "nats", consumer = name, from))]
    async fn consumer(&self, name: &str, from: Offset) -> Result<Box<dyn LogReader>, LogError> {
        self.durable(&token(name), from).await
    }

    async fn watermark(&self, consumer: &str, workers: u16) -> Result<Offset, LogError> {
        let mut lowest = Offset::MAX;
        for ordinal in 0..workers.max(1) {
            let committed = self.committed(&crate::worker_consumer_name(consumer, ordinal)).await?;
            lowest = lowest.min(committed);
        }
        Ok(lowest)
    }

    #[tracing::instrument(name = "event_log.commit", skip_all, fields(log = "nats", consumer = consumer, offset = offset))]
    async fn commit(&self, consumer: &str, offset: Offset) -> Result<(), LogError> {
        self.context
            .publish(self.offset_subject(consumer), offset.to_string().into())
            .await
            .map_err(|error| failed("recording an offset", error))?
            .await
            .map_err(|error| failed("recording an offset", error))?;
        Ok(())
    }

    async fn committed(&self, consumer: &str) -> Result<Offset, LogError> {
        match self.offsets.get_last_raw_message_by_subject(&self.offset_subject(consumer)).await {
            Ok(message) => Ok(std::str::from_utf8(&message.payload)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)),
            Err(error)
                if matches!(
                    error.kind(),
                    jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                ) =>
            {
                Ok(0)
            }
            Err(error) => Err(failed("reading an offset", error)),
        }
    }

    async fn consumers(&self) -> Result<Vec<String>, LogError> {
        let prefix = format!("{}.offsets.", self.subject_prefix);
        let mut subjects = self
            .offsets
            .clone()
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(|error| failed("listing offsets", error))?;
        let mut names = Vec::new();
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.map_err(|error| failed("listing offsets", error))?;
            if let Some(name) = subject.strip_prefix(&prefix) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn forget(&self, consumer: &str) -> Result<(), LogError> {
        self.offsets
            .purge()
            .filter(self.offset_subject(consumer))
            .await
            .map_err(|error| failed("forgetting an offset", error))?;
        Ok(())
    }

    async fn recent_keys(&self, window: Duration) -> Result<Vec<u64>, LogError> {
        // The broker de-duplicates inside its own window; this warms the node's longer one
        // from the newest records (bounded in count and time).
        const MOST: u64 = 2_000_000;
        let head = self.head();
        if head == 0 {
            return Ok(Vec::new());
        }
        let since = jiff::Timestamp::now().as_second()
            - i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2);
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: head.saturating_sub(MOST).max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|error| failed("creating a reader", error))?;
        let mut messages =
            consumer.messages().await.map_err(|error| failed("opening a reader", error))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut keys = Vec::new();
        while tokio::time::Instant::now() < deadline {
            let next = tokio::time::timeout(Duration::from_millis(500), messages.next()).await;
            let Ok(Some(Ok(message))) = next else { break };
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            if info.published.unix_timestamp() >= since
                && let Some(key) = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"))
            {
                keys.push(crate::key_hash(key.as_str()));
            }
            if sequence >= head {
                break;
            }
        }
        Ok(keys)
    }

    #[tracing::instrument(name = "event_log.retention", skip_all, fields(log = "nats"))]
    async fn enforce_retention(&self, keep: Duration) -> Result<usize, LogError> {
        // Purge below the oldest committed offset, once that record is itself older than
        // `keep`; a consumer that never committed holds everything.
        let mut oldest: Option<Offset> = None;
        let offsets = self.offsets.clone();
        let info = offsets
            .info_with_subjects(format!("{}.offsets.>", self.subject_prefix))
            .await
            .map_err(|error| failed("listing offsets", error))?;
        let mut subjects = info;
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.map_err(|error| failed("listing offsets", error))?;
            let consumer = subject.rsplit('.').next().unwrap_or_default().to_owned();
            let offset = self.committed(&consumer).await?;
            oldest = Some(oldest.map_or(offset, |o| o.min(offset)));
        }
        let Some(oldest) = oldest.filter(|o| *o > 0) else { return Ok(0) };
        let Ok(message) = self.stream.get_raw_message(oldest).await else { return Ok(0) };
        let age = jiff::Timestamp::now().as_second() - message.time.unix_timestamp();
        if age < i64::try_from(keep.as_secs()).unwrap_or(i64::MAX) {
            return Ok(0);
        }
        let purged = self
            .stream
            .purge()
            .sequence(oldest + 1)
            .await
            .map_err(|error| failed("purging", error))?;
        Ok(usize::try_from(purged.purged).unwrap_or(usize::MAX))
    }

    async fn ping(&self) -> Result<(), LogError> {
        let mut stream = self.stream.clone();
        tokio::time::timeout(Duration::from_secs(2), stream.info())
            .await
            .map_err(|_| LogError::Failed("NATS did not answer within 2 s".to_owned()))?
            .map_err(|error| failed("stream info", error))?;
        Ok(())
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.client.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_per_app_and_safe() {
        let partition = unmogrowp_domain::hash::partition_of("0193a", 64);
        assert_eq!(subject_for("um", 64, "0193a:evt-1"), format!("um.events.{partition}.0193a"));
        assert_eq!(subject_for("um", 1, "a.b*c>:x"), "um.events.0.a_b_c_");
        assert_eq!(subject_for("um", 1, ""), "um.events.0._");
        assert_eq!(token("team one"), "team_one");
    }

    #[test]
    fn a_records_partition_is_read_from_its_subject() {
        assert_eq!(partition_of_subject("17.0193a", 64), 17);
        assert_eq!(
            partition_of_subject("0193a", 64),
            unmogrowp_domain::hash::partition_of("0193a", 64),
            "a record from before partitions"
        );
    }

    #[test]
    fn the_partition_count_is_read_back_from_the_description() {
        assert_eq!(described_partitions(Some(&layout_description(64))), Some(64));
        assert_eq!(described_partitions(Some(&layout_description(1))), Some(1));
        assert_eq!(described_partitions(None), None);
        assert_eq!(described_partitions(Some("made by hand")), None);
    }
}

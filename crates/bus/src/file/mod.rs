//! The embedded event log: append-only segment files in `<data_dir>/log/`.
//!
//! One writer thread owns the active segment. Appends queue on a bounded channel; the writer
//! takes everything queued, writes it with one `write`, makes it durable with one
//! `fdatasync`, then answers every caller (group commit: many concurrent requests share one
//! sync). A full queue answers `Overloaded` at once instead of waiting.
//!
//! Frame: `len u32 | crc32 u32 | key_hash u64 | appended_at_ms i64 | payload`, little-endian;
//! the CRC covers the rest of the header and the payload. A crash can leave a torn frame at
//! the tail of the last segment; opening the log cuts it off (it was never acknowledged).
//! A closed segment gets an `.idx` file (record count, length, sparse offset→position index)
//! so that opening the log does not rescan it.
//!
//! Code: `mod.rs` (options, opening, the `EventLog` methods), `segment.rs` (frames, segment
//! files, their indexes, recovery), `writer.rs` (the writer thread and group commit),
//! `reader.rs` (readers following the segments).

mod reader;
mod segment;
mod writer;

use crate::{Entry, EventLog, LogError, LogReader, Offset, key_hash};
use reader::FileReader;
use segment::{HEADER, Segment, index_path, now_ms, parse_header, recover, segment_path, sync_dir};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use writer::writer_loop;

/// Settings of a [`FileLog`]; [`FileLogOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct FileLogOptions {
    /// The directory holding the segment files (`<base offset, 20 digits>.log` and their
    /// `.idx` indexes) and the committed positions under `consumers/`; created on open if
    /// missing. Usually `<data_dir>/log/`.
    pub dir: PathBuf,
    /// A segment is closed once it grows past this size.
    pub segment_bytes: u64,
    /// Appends allowed to wait for the writer before `Overloaded`.
    pub queue_capacity: usize,
    /// Most bytes written per sync.
    pub max_batch_bytes: usize,
}

impl FileLogOptions {
    /// Options for a log in `dir` with the defaults: 64 MiB segments, 4096 queued appends
    /// before [`LogError::Overloaded`], and at most 8 MiB written per sync.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 64 * 1024 * 1024,
            queue_capacity: 4096,
            max_batch_bytes: 8 * 1024 * 1024,
        }
    }
}

struct Shared {
    dir: PathBuf,
    segments: RwLock<Vec<Segment>>,
    head: watch::Sender<Offset>,
    consumers: Mutex<()>,
}

struct Request {
    entries: Vec<Entry>,
    reply: oneshot::Sender<Result<Offset, LogError>>,
}

/// The embedded [`EventLog`]: append-only segment files on local disk, for a single process.
///
/// Appends are group-committed by one writer thread (one `fdatasync` for everything queued)
/// and answered once durable; a full queue answers [`LogError::Overloaded`] at once. There is
/// one partition, consumer positions are small files under `consumers/`, and retention
/// removes whole closed segments that every consumer has committed. Call
/// [`EventLog::close`] before dropping it so in-flight appends finish.
pub struct FileLog {
    shared: Arc<Shared>,
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl FileLog {
    /// Opens (or creates) the log, repairing a torn tail, and starts the writer thread.
    pub fn open(options: FileLogOptions) -> Result<Self, LogError> {
        let mut segments = recover(&options.dir)?;
        if segments.is_empty() {
            let path = segment_path(&options.dir, 1);
            File::create(&path)?.sync_all()?;
            sync_dir(&options.dir)?;
            segments.push(Segment {
                base: 1,
                next: 1,
                len: 0,
                index: Vec::new(),
                path,
                closed: false,
            });
        }
        let head = segments.last().map_or(0, |s| s.next - 1);
        let (head_sender, _) = watch::channel(head);
        let shared = Arc::new(Shared {
            dir: options.dir.clone(),
            segments: RwLock::new(segments),
            head: head_sender,
            consumers: Mutex::new(()),
        });
        let (sender, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("event-log-writer".into())
            .spawn(move || writer_loop(&writer_shared, receiver, &options))
            .map_err(|error| LogError::Failed(format!("cannot start the log writer: {error}")))?;
        Ok(Self { shared, sender: Mutex::new(Some(sender)), writer: Mutex::new(Some(writer)) })
    }

    fn consumer_path(&self, consumer: &str) -> Result<PathBuf, LogError> {
        if consumer.is_empty()
            || !consumer.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(LogError::Failed(format!("invalid consumer name `{consumer}`")));
        }
        Ok(self.shared.dir.join("consumers").join(consumer))
    }
}

#[async_trait::async_trait]
impl EventLog for FileLog {
    fn kind(&self) -> &'static str {
        "file"
    }

    #[tracing::instrument(name = "event_log.append", skip_all, fields(log = "file", records = entries.len()))]
    async fn append(&self, entries: Vec<Entry>) -> Result<Offset, LogError> {
        if entries.is_empty() {
            return Ok(self.head());
        }
        let sender =
            self.sender.lock().map_err(|_| LogError::Closed)?.clone().ok_or(LogError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender.try_send(Request { entries, reply }).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => LogError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => LogError::Closed,
        })?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    fn head(&self) -> Offset {
        *self.shared.head.borrow()
    }

    async fn reader(&self, from: Offset) -> Result<Box<dyn LogReader>, LogError> {
        Ok(Box::new(FileReader {
            shared: self.shared.clone(),
            head: self.shared.head.subscribe(),
            next: from.max(1),
            open: None,
        }))
    }

    #[tracing::instrument(name = "event_log.commit", skip_all, fields(log = "file", consumer = consumer, offset = offset))]
    async fn commit(&self, consumer: &str, offset: Offset) -> Result<(), LogError> {
        let path = self.consumer_path(consumer)?;
        let dir = self.shared.dir.join("consumers");
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || -> Result<(), LogError> {
            let _guard =
                shared.consumers.lock().map_err(|_| LogError::Failed("poisoned".into()))?;
            let partial = path.with_extension("partial");
            let mut file = File::create(&partial)?;
            file.write_all(offset.to_string().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            sync_dir(&dir)?;
            Ok(())
        })
        .await
        .map_err(|error| LogError::Failed(error.to_string()))?
    }

    async fn committed(&self, consumer: &str) -> Result<Offset, LogError> {
        let path = self.consumer_path(consumer)?;
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| LogError::Corrupt(format!("{} is not an offset", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error.into()),
        }
    }

    async fn consumers(&self) -> Result<Vec<String>, LogError> {
        let mut names = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.shared.dir.join("consumers")).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(error) => return Err(error.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".partial") {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    async fn forget(&self, consumer: &str) -> Result<(), LogError> {
        match tokio::fs::remove_file(self.consumer_path(consumer)?).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn recent_keys(&self, window: Duration) -> Result<Vec<u64>, LogError> {
        let since = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
        let segments =
            self.shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?.clone();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            for segment in segments {
                let modified = std::fs::metadata(&segment.path)?.modified().ok();
                let modified_ms = modified
                    .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                    .map_or(i64::MAX, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                if modified_ms < since {
                    continue;
                }
                let mut reader = BufReader::with_capacity(1 << 20, File::open(&segment.path)?);
                let mut position = 0u64;
                let mut header = [0u8; HEADER];
                while position + (HEADER as u64) <= segment.len {
                    reader.read_exact(&mut header)?;
                    let frame = parse_header(&header);
                    if frame.appended_at >= since {
                        keys.push(frame.key_hash);
                    }
                    reader.seek_relative(i64::try_from(frame.length).unwrap_or(0))?;
                    position += (HEADER + frame.length) as u64;
                }
            }
            Ok(keys)
        })
        .await
        .map_err(|error| LogError::Failed(error.to_string()))?
    }

    #[tracing::instrument(name = "event_log.retention", skip_all, fields(log = "file"))]
    async fn enforce_retention(&self, keep: Duration) -> Result<usize, LogError> {
        let consumers_dir = self.shared.dir.join("consumers");
        let mut slowest: Option<Offset> = None;
        let mut entries = tokio::fs::read_dir(&consumers_dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".partial") {
                continue;
            }
            let offset = self.committed(&name).await?;
            slowest = Some(slowest.map_or(offset, |s| s.min(offset)));
        }
        let Some(slowest) = slowest else { return Ok(0) };
        let cutoff = SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
        let removable: Vec<Segment> = {
            let segments =
                self.shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?;
            segments
                .iter()
                .filter(|s| s.closed && s.next - 1 <= slowest)
                .filter(|s| {
                    std::fs::metadata(&s.path).and_then(|m| m.modified()).is_ok_and(|m| m < cutoff)
                })
                .cloned()
                .collect()
        };
        // Only a prefix of the log may go: never leave a hole.
        let mut removed = 0;
        let mut segments =
            self.shared.segments.write().map_err(|_| LogError::Failed("poisoned".into()))?;
        while segments.len() > 1 && removable.iter().any(|r| r.base == segments[0].base) {
            let segment = segments.remove(0);
            let _ = std::fs::remove_file(index_path(&segment.path));
            std::fs::remove_file(&segment.path)?;
            removed += 1;
        }
        Ok(removed)
    }

    async fn ping(&self) -> Result<(), LogError> {
        let sender = self.sender.lock().map_err(|_| LogError::Closed)?;
        match sender.as_ref() {
            Some(sender) if !sender.is_closed() => Ok(()),
            _ => Err(LogError::Closed),
        }
    }

    async fn close(&self) {
        let sender = self.sender.lock().ok().and_then(|mut s| s.take());
        drop(sender);
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry {
        Entry { key: format!("app:{i}"), payload: format!("record {i}").into_bytes() }
    }

    async fn read_all(log: &FileLog, from: Offset) -> Vec<(Offset, Vec<u8>)> {
        let mut reader = log.reader(from).await.expect("reader");
        let mut all = Vec::new();
        loop {
            let batch = reader.next_batch(1000, Duration::from_millis(10)).await.expect("batch");
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    #[tokio::test]
    async fn appends_are_read_back_in_order_from_any_offset() {
        let dir = tempfile::tempdir().expect("dir");
        let log = FileLog::open(FileLogOptions::new(dir.path())).expect("open");
        assert_eq!(log.head(), 0);
        assert_eq!(log.append(vec![entry(1), entry(2)]).await.expect("append"), 2);
        assert_eq!(log.append(vec![entry(3)]).await.expect("append"), 3);
        let all = read_all(&log, 1).await;
        assert_eq!(all.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(all[2].1, b"record 3");
        let tail = read_all(&log, 3).await;
        assert_eq!(tail.len(), 1);
        log.close().await;
    }

    #[tokio::test]
    async fn concurrent_appends_share_syncs_and_all_land() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Arc::new(FileLog::open(FileLogOptions::new(dir.path())).expect("open"));
        let mut tasks = Vec::new();
        for task in 0..32 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut offsets = Vec::new();
                for i in 0..50 {
                    offsets.push(log.append(vec![entry(task * 1000 + i)]).await.expect("append"));
                }
                offsets
            }));
        }
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.extend(task.await.expect("join"));
        }
        offsets.sort_unstable();
        assert_eq!(offsets, (1..=1600).collect::<Vec<_>>());
        assert_eq!(read_all(&log, 1).await.len(), 1600);
        log.close().await;
    }

    #[tokio::test]
    async fn segments_roll_and_reopen_with_their_index() {
        let dir = tempfile::tempdir().expect("dir");
        let options = FileLogOptions { segment_bytes: 2048, ..FileLogOptions::new(dir.path()) };
        let log = FileLog::open(options.clone()).expect("open");
        for i in 0..500 {
            log.append(vec![entry(i)]).await.expect("append");
        }
        log.close().await;
        let segment_files = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log")))
            .count();
        assert!(segment_files > 5, "{segment_files}");
        let log = FileLog::open(options).expect("reopen");
        assert_eq!(log.head(), 500);
        let middle = read_all(&log, 250).await;
        assert_eq!(middle.first().map(|(o, _)| *o), Some(250));
        assert_eq!(middle.first().map(|(_, p)| p.clone()), Some(b"record 249".to_vec()));
        assert_eq!(middle.len(), 251);
        assert_eq!(log.append(vec![entry(500)]).await.expect("append"), 501);
        log.close().await;
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_off_on_open() {
        let dir = tempfile::tempdir().expect("dir");
        let log = FileLog::open(FileLogOptions::new(dir.path())).expect("open");
        log.append(vec![entry(1), entry(2)]).await.expect("append");
        log.close().await;
        let path = segment_path(dir.path(), 1);
        let good = std::fs::metadata(&path).expect("meta").len();
        let mut file = OpenOptions::new().append(true).open(&path).expect("open segment");
        file.write_all(&[7, 0, 0, 0, 1, 2, 3]).expect("torn write");
        drop(file);
        let log = FileLog::open(FileLogOptions::new(dir.path())).expect("reopen");
        assert_eq!(log.head(), 2);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), good);
        assert_eq!(log.append(vec![entry(3)]).await.expect("append"), 3);
        assert_eq!(read_all(&log, 1).await.len(), 3);
        log.close().await;
    }

    #[tokio::test]
    async fn readers_wait_for_new_records() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Arc::new(FileLog::open(FileLogOptions::new(dir.path())).expect("open"));
        let mut reader = log.reader(1).await.expect("reader");
        assert!(reader.next_batch(10, Duration::from_millis(20)).await.expect("batch").is_empty());
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.append(vec![entry(1)]).await.expect("append");
        });
        let batch = reader.next_batch(10, Duration::from_secs(5)).await.expect("batch");
        assert_eq!(batch.len(), 1);
        log.close().await;
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Arc::new(
            FileLog::open(FileLogOptions { queue_capacity: 1, ..FileLogOptions::new(dir.path()) })
                .expect("open"),
        );
        let mut tasks = Vec::new();
        for i in 0..64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move { log.append(vec![entry(i)]).await }));
        }
        let mut refused = 0;
        let mut accepted = 0;
        for task in tasks {
            match task.await.expect("join") {
                Ok(_) => accepted += 1,
                Err(LogError::Overloaded) => refused += 1,
                Err(other) => unreachable!("{other}"),
            }
        }
        assert!(accepted >= 1);
        assert_eq!(accepted + refused, 64);
        assert_eq!(read_all(&log, 1).await.len(), accepted);
        log.close().await;
    }

    #[tokio::test]
    async fn consumer_offsets_and_recent_keys_and_retention() {
        let dir = tempfile::tempdir().expect("dir");
        let log =
            FileLog::open(FileLogOptions { segment_bytes: 256, ..FileLogOptions::new(dir.path()) })
                .expect("open");
        for i in 0..40 {
            log.append(vec![entry(i)]).await.expect("append");
        }
        assert_eq!(log.committed("pipeline").await.expect("read"), 0);
        log.commit("pipeline", 25).await.expect("commit");
        assert_eq!(log.committed("pipeline").await.expect("read"), 25);
        let keys = log.recent_keys(Duration::from_secs(60)).await.expect("keys");
        assert_eq!(keys.len(), 40);
        assert!(keys.contains(&key_hash("app:7")));
        let removed = log.enforce_retention(Duration::ZERO).await.expect("retention");
        assert!(removed > 0);
        let remaining = read_all(&log, 26).await;
        assert_eq!(remaining.len(), 15, "nothing a consumer still needs was removed");
        assert!(
            log.reader(1)
                .await
                .expect("reader")
                .next_batch(1, Duration::from_millis(10))
                .await
                .is_err()
        );
        log.close().await;
    }
}

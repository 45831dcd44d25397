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

use crate::{Entry, EventLog, LogError, LogReader, Offset, key_hash};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

const HEADER: usize = 24;
const INDEX_EVERY: u64 = 128;
const MAX_RECORD: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct FileLogOptions {
    pub dir: PathBuf,
    /// A segment is closed once it grows past this size.
    pub segment_bytes: u64,
    /// Appends allowed to wait for the writer before `Overloaded`.
    pub queue_capacity: usize,
    /// Most bytes written per sync.
    pub max_batch_bytes: usize,
}

impl FileLogOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 64 * 1024 * 1024,
            queue_capacity: 4096,
            max_batch_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug)]
struct Segment {
    base: Offset,
    /// One past the last record.
    next: Offset,
    /// Durable bytes.
    len: u64,
    /// Sparse index: the byte position of every `INDEX_EVERY`th record.
    index: Vec<(Offset, u64)>,
    path: PathBuf,
    closed: bool,
}

impl Segment {
    fn position_of(&self, offset: Offset) -> (Offset, u64) {
        let at = self.index.partition_point(|(o, _)| *o <= offset);
        if at == 0 { (self.base, 0) } else { self.index[at - 1] }
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

pub struct FileLog {
    shared: Arc<Shared>,
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn segment_path(dir: &Path, base: Offset) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn frame_crc(header_rest: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header_rest);
    hasher.update(payload);
    hasher.finalize()
}

fn encode_frame(buffer: &mut Vec<u8>, entry: &Entry, appended_at: i64) {
    let mut rest = [0u8; 16];
    rest[..8].copy_from_slice(&key_hash(&entry.key).to_le_bytes());
    rest[8..].copy_from_slice(&appended_at.to_le_bytes());
    let length = u32::try_from(entry.payload.len()).unwrap_or(u32::MAX);
    buffer.extend_from_slice(&length.to_le_bytes());
    buffer.extend_from_slice(&frame_crc(&rest, &entry.payload).to_le_bytes());
    buffer.extend_from_slice(&rest);
    buffer.extend_from_slice(&entry.payload);
}

/// One decoded frame header.
struct FrameHeader {
    length: usize,
    crc: u32,
    key_hash: u64,
    appended_at: i64,
}

fn parse_header(bytes: &[u8; HEADER]) -> FrameHeader {
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(b)
    };
    FrameHeader {
        length: u32_at(0) as usize,
        crc: u32_at(4),
        key_hash: u64_at(8),
        appended_at: i64::from_le_bytes(u64_at(16).to_le_bytes()),
    }
}

/// Scans a segment from the start; stops at the first frame that is incomplete or fails its
/// CRC. Returns the segment as far as it is valid.
fn scan_segment(path: &Path, base: Offset) -> Result<Segment, LogError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut position = 0u64;
    let mut next = base;
    let mut index = Vec::new();
    let mut header = [0u8; HEADER];
    let mut payload = Vec::new();
    loop {
        if position + HEADER as u64 > size {
            break;
        }
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        let frame = parse_header(&header);
        if frame.length > MAX_RECORD || position + (HEADER + frame.length) as u64 > size {
            break;
        }
        payload.resize(frame.length, 0);
        if reader.read_exact(&mut payload).is_err()
            || frame_crc(&header[8..], &payload) != frame.crc
        {
            break;
        }
        if (next - base).is_multiple_of(INDEX_EVERY) {
            index.push((next, position));
        }
        position += (HEADER + frame.length) as u64;
        next += 1;
    }
    Ok(Segment { base, next, len: position, index, path: path.to_owned(), closed: false })
}

fn write_index(segment: &Segment) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(16 + segment.index.len() * 16);
    bytes.extend_from_slice(&segment.next.to_le_bytes());
    bytes.extend_from_slice(&segment.len.to_le_bytes());
    for (offset, position) in &segment.index {
        bytes.extend_from_slice(&offset.to_le_bytes());
        bytes.extend_from_slice(&position.to_le_bytes());
    }
    let path = index_path(&segment.path);
    let partial = path.with_extension("idx.partial");
    let mut file = File::create(&partial)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)
}

fn read_index(segment_path: &Path, base: Offset) -> Option<Segment> {
    let bytes = std::fs::read(index_path(segment_path)).ok()?;
    if bytes.len() < 16 || (bytes.len() - 16) % 16 != 0 {
        return None;
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let next = u64_at(0);
    let len = u64_at(8);
    let size = std::fs::metadata(segment_path).ok()?.len();
    if size != len || next < base {
        return None;
    }
    let index = (16..bytes.len()).step_by(16).map(|i| (u64_at(i), u64_at(i + 8))).collect();
    Some(Segment { base, next, len, index, path: segment_path.to_owned(), closed: true })
}

fn recover(dir: &Path) -> Result<Vec<Segment>, LogError> {
    std::fs::create_dir_all(dir)?;
    std::fs::create_dir_all(dir.join("consumers"))?;
    let mut bases: Vec<Offset> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse::<Offset>().ok()
        })
        .collect();
    bases.sort_unstable();
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let count = bases.len();
    for (position, base) in bases.into_iter().enumerate() {
        let path = segment_path(dir, base);
        let is_last = position + 1 == count;
        let segment = match (is_last, read_index(&path, base)) {
            (false, Some(indexed)) => indexed,
            _ => {
                let scanned = scan_segment(&path, base)?;
                let size = std::fs::metadata(&path)?.len();
                if scanned.len < size {
                    if !is_last {
                        return Err(LogError::Corrupt(format!(
                            "{} is damaged at byte {} and is not the newest segment",
                            path.display(),
                            scanned.len
                        )));
                    }
                    tracing::warn!(path = %path.display(), kept = scanned.len, size, "cutting a torn write off the log's tail");
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(scanned.len)?;
                    file.sync_all()?;
                }
                let mut scanned = scanned;
                scanned.closed = !is_last;
                if !is_last {
                    write_index(&scanned)?;
                }
                scanned
            }
        };
        if let Some(previous) = segments.last()
            && previous.next != segment.base
        {
            return Err(LogError::Corrupt(format!(
                "segment {} starts at {} but the one before ends at {}",
                path.display(),
                segment.base,
                previous.next
            )));
        }
        segments.push(segment);
    }
    Ok(segments)
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

fn writer_loop(shared: &Shared, mut receiver: mpsc::Receiver<Request>, options: &FileLogOptions) {
    let mut active = match open_active(shared) {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, "the event log cannot open its active segment");
            while let Some(request) = receiver.blocking_recv() {
                let _ = request.reply.send(Err(LogError::Failed(error.to_string())));
            }
            return;
        }
    };
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut failed: Option<String> = None;
    while let Some(first) = receiver.blocking_recv() {
        let mut requests = vec![first];
        let mut bytes: usize = requests[0].entries.iter().map(|e| e.payload.len() + HEADER).sum();
        while bytes < options.max_batch_bytes {
            match receiver.try_recv() {
                Ok(request) => {
                    bytes +=
                        request.entries.iter().map(|e| e.payload.len() + HEADER).sum::<usize>();
                    requests.push(request);
                }
                Err(_) => break,
            }
        }
        if let Some(reason) = &failed {
            for request in requests {
                let _ = request.reply.send(Err(LogError::Failed(reason.clone())));
            }
            continue;
        }
        metrics::histogram!("event_log_group_commit_requests").record(requests.len() as f64);
        match write_batch(shared, &mut active, &mut buffer, &requests, options) {
            Ok(lasts) => {
                for (request, last) in requests.into_iter().zip(lasts) {
                    let _ = request.reply.send(Ok(last));
                }
            }
            Err(error) => {
                tracing::error!(%error, "event log write failed");
                if matches!(error, LogError::Corrupt(_)) {
                    failed = Some(error.to_string());
                }
                for request in requests {
                    let _ = request.reply.send(Err(LogError::Failed(error.to_string())));
                }
            }
        }
    }
}

fn open_active(shared: &Shared) -> Result<File, LogError> {
    let segments = shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?;
    let last = segments.last().ok_or_else(|| LogError::Failed("no segment".into()))?;
    Ok(OpenOptions::new().append(true).open(&last.path)?)
}

/// Writes every request's entries, syncs once, and returns each request's last offset.
fn write_batch(
    shared: &Shared,
    active: &mut File,
    buffer: &mut Vec<u8>,
    requests: &[Request],
    options: &FileLogOptions,
) -> Result<Vec<Offset>, LogError> {
    let (base, mut next, start_len) = {
        let segments = shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?;
        let last = segments.last().ok_or_else(|| LogError::Failed("no segment".into()))?;
        (last.base, last.next, last.len)
    };
    let (base, start_len) = if start_len >= options.segment_bytes {
        roll(shared, active, next)?;
        (next, 0)
    } else {
        (base, start_len)
    };
    buffer.clear();
    let appended_at = now_ms();
    let mut new_index = Vec::new();
    let mut lasts = Vec::with_capacity(requests.len());
    for request in requests {
        for entry in &request.entries {
            if entry.payload.len() > MAX_RECORD {
                return Err(LogError::Failed(format!(
                    "a record of {} bytes is larger than the log accepts",
                    entry.payload.len()
                )));
            }
            if (next - base).is_multiple_of(INDEX_EVERY) {
                new_index.push((next, start_len + buffer.len() as u64));
            }
            encode_frame(buffer, entry, appended_at);
            next += 1;
        }
        lasts.push(next - 1);
    }
    let written = active.write_all(buffer).and_then(|()| active.sync_data());
    if let Err(error) = written {
        // Take the partial write back so the file ends on a frame boundary.
        let undone = active.set_len(start_len).and_then(|()| active.sync_data());
        return Err(match undone {
            Ok(()) => LogError::Failed(error.to_string()),
            Err(second) => {
                LogError::Corrupt(format!("{error}; cannot undo the partial write: {second}"))
            }
        });
    }
    {
        let mut segments =
            shared.segments.write().map_err(|_| LogError::Failed("poisoned".into()))?;
        if let Some(last) = segments.last_mut() {
            last.len = start_len + buffer.len() as u64;
            last.next = next;
            last.index.extend(new_index);
        }
    }
    shared.head.send_replace(next - 1);
    metrics::counter!("event_log_appended_records_total").increment(lasts.len() as u64);
    Ok(lasts)
}

/// Closes the active segment (writing its index) and starts a new one at `next`.
fn roll(shared: &Shared, active: &mut File, next: Offset) -> Result<(), LogError> {
    let path = segment_path(&shared.dir, next);
    let file = OpenOptions::new().create_new(true).append(true).open(&path)?;
    file.sync_all()?;
    sync_dir(&shared.dir)?;
    let mut segments = shared.segments.write().map_err(|_| LogError::Failed("poisoned".into()))?;
    if let Some(last) = segments.last_mut() {
        last.closed = true;
        if let Err(error) = write_index(last) {
            tracing::warn!(%error, "cannot write a segment index; it will be rebuilt on start");
        }
    }
    segments.push(Segment { base: next, next, len: 0, index: Vec::new(), path, closed: false });
    *active = file;
    Ok(())
}

#[async_trait::async_trait]
impl EventLog for FileLog {
    fn kind(&self) -> &'static str {
        "file"
    }

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

struct OpenSegment {
    base: Offset,
    file: File,
    /// The offset of the record at `position`.
    at: Offset,
    position: u64,
}

struct FileReader {
    shared: Arc<Shared>,
    head: watch::Receiver<Offset>,
    next: Offset,
    open: Option<OpenSegment>,
}

impl FileReader {
    fn read_available(&mut self, max: usize) -> Result<Vec<(Offset, Vec<u8>)>, LogError> {
        let mut out = Vec::new();
        while out.len() < max {
            let found = {
                let segments =
                    self.shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?;
                if segments.first().is_some_and(|first| self.next < first.base) {
                    return Err(LogError::Failed(format!(
                        "offset {} was removed by retention; the oldest kept is {}",
                        self.next, segments[0].base
                    )));
                }
                let at = segments.partition_point(|s| s.base <= self.next);
                segments.get(at.wrapping_sub(1)).filter(|s| self.next < s.next).cloned()
            };
            let Some(segment) = found else { break };
            let reuse =
                self.open.as_ref().is_some_and(|o| o.base == segment.base && o.at <= self.next);
            if !reuse {
                let (at, position) = segment.position_of(self.next);
                self.open = Some(OpenSegment {
                    base: segment.base,
                    file: File::open(&segment.path)?,
                    at,
                    position,
                });
            }
            let Some(open) = self.open.as_mut() else { break };
            // Read what is durable in this segment, a chunk at a time.
            let end = segment.len;
            let mut chunk =
                vec![0u8; usize::try_from((end - open.position).min(4 << 20)).unwrap_or(4 << 20)];
            let read = open.file.read_at(&mut chunk, open.position)?;
            chunk.truncate(read);
            let mut cursor = 0usize;
            while cursor + HEADER <= chunk.len() && out.len() < max {
                let mut header = [0u8; HEADER];
                header.copy_from_slice(&chunk[cursor..cursor + HEADER]);
                let frame = parse_header(&header);
                let frame_end = cursor + HEADER + frame.length;
                if frame_end > chunk.len() {
                    if cursor == 0 {
                        // One record larger than the chunk: read it alone.
                        let mut whole = vec![0u8; HEADER + frame.length];
                        open.file.read_exact_at(&mut whole, open.position)?;
                        chunk = whole;
                        continue;
                    }
                    break;
                }
                let payload = &chunk[cursor + HEADER..frame_end];
                if frame_crc(&chunk[cursor + 8..cursor + HEADER], payload) != frame.crc {
                    return Err(LogError::Corrupt(format!("bad checksum at offset {}", open.at)));
                }
                if open.at >= self.next {
                    out.push((open.at, payload.to_vec()));
                    self.next = open.at + 1;
                }
                open.at += 1;
                open.position += (HEADER + frame.length) as u64;
                cursor = frame_end;
            }
            if read == 0 {
                break;
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl LogReader for FileReader {
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(Offset, Vec<u8>)>, LogError> {
        if *self.head.borrow() < self.next {
            let target = self.next;
            let waited =
                tokio::time::timeout(wait, self.head.wait_for(|head| *head >= target)).await;
            match waited {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Err(LogError::Closed),
                Err(_) => return Ok(Vec::new()),
            }
        }
        let mut reader = FileReader {
            shared: self.shared.clone(),
            head: self.head.clone(),
            next: self.next,
            open: self.open.take(),
        };
        let (reader, batch) = tokio::task::spawn_blocking(move || {
            let batch = reader.read_available(max);
            (reader, batch)
        })
        .await
        .map_err(|error| LogError::Failed(error.to_string()))?;
        self.next = reader.next;
        self.open = reader.open;
        batch
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

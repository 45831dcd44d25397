//! The writer thread: takes every queued append, writes it with one `write`, makes it durable
//! with one `fdatasync` and answers every caller (group commit); rolls segments.

use super::segment::{INDEX_EVERY, MAX_RECORD, encode_frame, write_index};
use super::*;

pub(super) fn writer_loop(
    shared: &Shared,
    mut receiver: mpsc::Receiver<Request>,
    options: &FileLogOptions,
) {
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
        metrics::histogram!(crate::metric_names::EVENT_LOG_GROUP_COMMIT_REQUESTS)
            .record(requests.len() as f64);
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

pub(super) fn open_active(shared: &Shared) -> Result<File, LogError> {
    let segments = shared.segments.read().map_err(|_| LogError::Failed("poisoned".into()))?;
    let last = segments.last().ok_or_else(|| LogError::Failed("no segment".into()))?;
    Ok(OpenOptions::new().append(true).open(&last.path)?)
}

/// Writes every request's entries, syncs once, and returns each request's last offset.
pub(super) fn write_batch(
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
    metrics::counter!(crate::metric_names::EVENT_LOG_APPENDED_RECORDS_TOTAL)
        .increment(lasts.len() as u64);
    Ok(lasts)
}

/// Closes the active segment (writing its index) and starts a new one at `next`.
pub(super) fn roll(shared: &Shared, active: &mut File, next: Offset) -> Result<(), LogError> {
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

//! Readers: follow the segments from any offset, waiting on the head for new records.

use super::segment::{HEADER, frame_crc, parse_header};
use super::*;

pub(super) struct OpenSegment {
    pub(super) base: Offset,
    pub(super) file: File,
    /// The offset of the record at `position`.
    pub(super) at: Offset,
    pub(super) position: u64,
}

pub(super) struct FileReader {
    pub(super) shared: Arc<Shared>,
    pub(super) head: watch::Receiver<Offset>,
    pub(super) next: Offset,
    pub(super) open: Option<OpenSegment>,
}

impl FileReader {
    pub(super) fn read_available(
        &mut self,
        max: usize,
    ) -> Result<Vec<(Offset, Vec<u8>)>, LogError> {
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

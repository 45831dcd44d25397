//! The segment files: frame encoding and checking, scanning a segment, its sparse index, and
//! recovering the log on open (a torn tail cut off).

use super::*;

pub(super) const HEADER: usize = 24;
pub(super) const INDEX_EVERY: u64 = 128;
pub(super) const MAX_RECORD: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub(super) base: Offset,
    /// One past the last record.
    pub(super) next: Offset,
    /// Durable bytes.
    pub(super) len: u64,
    /// Sparse index: the byte position of every `INDEX_EVERY`th record.
    pub(super) index: Vec<(Offset, u64)>,
    pub(super) path: PathBuf,
    pub(super) closed: bool,
}

impl Segment {
    pub(super) fn position_of(&self, offset: Offset) -> (Offset, u64) {
        let at = self.index.partition_point(|(o, _)| *o <= offset);
        if at == 0 { (self.base, 0) } else { self.index[at - 1] }
    }
}

pub(super) fn segment_path(dir: &Path, base: Offset) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

pub(super) fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(super) fn frame_crc(header_rest: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header_rest);
    hasher.update(payload);
    hasher.finalize()
}

pub(super) fn encode_frame(buffer: &mut Vec<u8>, entry: &Entry, appended_at: i64) {
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
pub(super) struct FrameHeader {
    pub(super) length: usize,
    pub(super) crc: u32,
    pub(super) key_hash: u64,
    pub(super) appended_at: i64,
}

pub(super) fn parse_header(bytes: &[u8; HEADER]) -> FrameHeader {
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
pub(super) fn scan_segment(path: &Path, base: Offset) -> Result<Segment, LogError> {
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

pub(super) fn write_index(segment: &Segment) -> std::io::Result<()> {
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

pub(super) fn read_index(segment_path: &Path, base: Offset) -> Option<Segment> {
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

pub(super) fn recover(dir: &Path) -> Result<Vec<Segment>, LogError> {
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

//! Decompression of lz-string's base64 form (`LZString.compressToBase64`), which older
//! posthog-js versions send as `compression=lz64`.
//!
//! lz-string is an LZW variant: codes of a growing bit width, read least significant bit
//! first from a stream of 6-bit base64 values (most significant bit first in each). Code 0
//! and 1 bring an 8-bit or 16-bit literal, 2 ends the stream, and every other code names a
//! dictionary entry; each step adds "previous entry + first unit of this one" to the
//! dictionary. Format: pieroxy, lz-string 1.4 (`_decompress`).
//!
//! Written here rather than taken from a crate because the output must be bounded: an LZW
//! stream can expand quadratically (a 1 MiB body to tens of gigabytes), and the crates
//! decompress without a limit. Dictionary entries are kept as ranges of the output (every
//! entry is a stretch of what was already written), so memory stays linear in the output.

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LzError {
    /// Not lz-string data (a bad base64 character, a code naming no entry, no end mark).
    #[error("is not lz-string (compressToBase64) data")]
    Malformed,
    /// The text would be longer than the limit.
    #[error("decompresses to more than {0} bytes")]
    TooLarge(usize),
    /// The decompressed UTF-16 is not valid text.
    #[error("decompresses to invalid UTF-16 text")]
    NotText,
}

const ALPHABET: &[u8; 65] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

struct Bits<'a> {
    input: &'a [u8],
    index: usize,
    value: u32,
    position: u32,
}

impl Bits<'_> {
    fn next_value(&mut self) -> Result<u32, LzError> {
        // Past the end reads as zero bits, as lz-string does, and counts as read: a stream
        // that stops without its end code is then refused at the next code ([`Self::exhausted`]).
        let byte = self.input.get(self.index).copied();
        self.index += 1;
        let Some(byte) = byte else { return Ok(0) };
        let found = ALPHABET.iter().position(|&c| c == byte).ok_or(LzError::Malformed)?;
        // `=` (padding) reads as 64 & 63 = 0, like lz-string's table.
        Ok(u32::try_from(found).map_err(|_| LzError::Malformed)? & 63)
    }

    fn read(&mut self, count: u32) -> Result<u32, LzError> {
        let mut bits = 0;
        for power in 0..count {
            if self.value & self.position != 0 {
                bits |= 1 << power;
            }
            self.position >>= 1;
            if self.position == 0 {
                self.position = 32;
                self.value = self.next_value()?;
            }
        }
        Ok(bits)
    }

    /// Past the end of the input, as lz-string's own check (`data.index > length`) has it.
    fn exhausted(&self) -> bool {
        self.index > self.input.len()
    }
}

/// Decompresses `input` (the base64 text lz-string made, whitespace removed) into text of at
/// most `limit` bytes (UTF-8).
pub fn decompress_base64(input: &[u8], limit: usize) -> Result<String, LzError> {
    let input: Vec<u8> = input.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if input.is_empty() {
        return Ok(String::new());
    }
    // At most `limit` UTF-16 units: every unit is at least one byte of UTF-8.
    let max_units = limit;
    let mut bits = Bits { input: &input, index: 0, value: 0, position: 32 };
    bits.value = bits.next_value()?;
    let mut out: Vec<u16> = Vec::new();
    // Entries 0, 1, 2 are the literal and end codes; the rest are ranges of `out`.
    let mut dictionary: Vec<(usize, usize)> = vec![(0, 0); 3];
    let mut enlarge_in: u32 = 4;
    let mut width: u32 = 3;
    let literal = |bits: &mut Bits<'_>, code: u32| -> Result<Option<u16>, LzError> {
        match code {
            0 => Ok(Some(u16::try_from(bits.read(8)?).map_err(|_| LzError::Malformed)?)),
            1 => Ok(Some(u16::try_from(bits.read(16)?).map_err(|_| LzError::Malformed)?)),
            _ => Ok(None),
        }
    };
    let first = bits.read(2)?;
    let Some(unit) = literal(&mut bits, first)? else {
        return if first == 2 { Ok(String::new()) } else { Err(LzError::Malformed) };
    };
    dictionary.push((0, 1));
    out.push(unit);
    let mut previous = (0_usize, 1_usize);
    loop {
        if bits.exhausted() {
            return Err(LzError::Malformed);
        }
        let code = bits.read(width)?;
        if code == 2 {
            break;
        }
        if let Some(unit) = literal(&mut bits, code)? {
            // The literal is written next: its entry is that one unit.
            dictionary.push((out.len(), 1));
            out.push(unit);
            enlarge_in -= 1;
            if enlarge_in == 0 {
                enlarge_in = 1 << width;
                width += 1;
            }
            // The literal's unit is already written; fall through with it as the entry.
            let entry = (out.len() - 1, 1);
            dictionary.push((previous.0, previous.1 + 1));
            previous = entry;
        } else {
            let index = usize::try_from(code).map_err(|_| LzError::Malformed)?;
            let start = out.len();
            let length = match dictionary.get(index) {
                Some(&(offset, length)) if index >= 3 => {
                    if start + length > max_units {
                        return Err(LzError::TooLarge(limit));
                    }
                    out.extend_from_within(offset..offset + length);
                    length
                }
                None if index == dictionary.len() => {
                    // The entry being defined: previous + its own first unit.
                    let (offset, length) = previous;
                    if start + length + 1 > max_units {
                        return Err(LzError::TooLarge(limit));
                    }
                    out.extend_from_within(offset..offset + length);
                    out.push(out[offset]);
                    length + 1
                }
                _ => return Err(LzError::Malformed),
            };
            // previous + this entry's first unit: a stretch of the output, as `previous`
            // was written just before.
            dictionary.push((previous.0, previous.1 + 1));
            previous = (start, length);
        }
        if out.len() > max_units {
            return Err(LzError::TooLarge(limit));
        }
        enlarge_in -= 1;
        if enlarge_in == 0 {
            enlarge_in = 1 << width;
            width += 1;
        }
        if width > 24 {
            return Err(LzError::Malformed);
        }
    }
    let text = String::from_utf16(&out).map_err(|_| LzError::NotText)?;
    if text.len() > limit {
        return Err(LzError::TooLarge(limit));
    }
    Ok(text)
}

#[cfg(test)]
#[path = "lz_string_tests.rs"]
mod tests;

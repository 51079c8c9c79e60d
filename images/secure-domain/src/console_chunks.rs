//! Console output cut into hyp-arm's CONSOLE_WRITE hypercalls (docs/HYPERCALLS.md): at most 40
//! bytes per call, packed little-endian into x2..x6 with x1 = the byte count.
//!
//! [`ChunkBuffer`] collects bytes and hands full chunks to a sink; the firmware's console sink
//! makes the hypercall (or, on bare QEMU, writes a UART).

/// Most bytes one CONSOLE_WRITE carries (five 8-byte registers).
pub const CHUNK_SIZE: usize = 40;
/// Registers that carry the bytes (x2..x6).
pub const CHUNK_REGISTERS: usize = CHUNK_SIZE / 8;

/// The argument registers x2..x6 for `bytes` (at most [`CHUNK_SIZE`]; more are ignored): byte
/// `i` goes to register `i / 8`, bits `8 * (i % 8)` upwards; unused bytes are zero.
pub fn pack_registers(bytes: &[u8]) -> [u64; CHUNK_REGISTERS] {
    let mut registers = [0u64; CHUNK_REGISTERS];
    for (index, &byte) in bytes.iter().take(CHUNK_SIZE).enumerate() {
        registers[index / 8] |= u64::from(byte) << (8 * (index % 8));
    }
    registers
}

/// Bytes waiting to be sent, up to one chunk.
pub struct ChunkBuffer {
    bytes: [u8; CHUNK_SIZE],
    length: usize,
}

impl Default for ChunkBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkBuffer {
    pub const fn new() -> Self {
        Self {
            bytes: [0; CHUNK_SIZE],
            length: 0,
        }
    }

    /// Adds `text`, handing each chunk to `send` as soon as it is full. A newline also sends
    /// the chunk, so a line reaches the console before the next one starts even if the program
    /// stops right after it.
    pub fn push(&mut self, text: &[u8], send: &mut impl FnMut(&[u8])) {
        for &byte in text {
            self.bytes[self.length] = byte;
            self.length += 1;
            if self.length == CHUNK_SIZE || byte == b'\n' {
                self.flush(send);
            }
        }
    }

    /// Sends whatever is buffered (nothing if empty).
    pub fn flush(&mut self, send: &mut impl FnMut(&[u8])) {
        if self.length > 0 {
            send(&self.bytes[..self.length]);
            self.length = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_little_endian_x2_first() {
        let registers = pack_registers(b"secure-domain: up\n");
        assert_eq!(registers[0], u64::from_le_bytes(*b"secure-d"));
        assert_eq!(registers[1], u64::from_le_bytes(*b"omain: u"));
        assert_eq!(registers[2], u64::from_le_bytes(*b"p\n\0\0\0\0\0\0"));
        assert_eq!(registers[3], 0);
        assert_eq!(registers[4], 0);
        let full = pack_registers(&[0xab; 45]);
        assert_eq!(full, [0xabab_abab_abab_abab; CHUNK_REGISTERS]);
    }

    fn sent_chunks(pieces: &[&[u8]], flush_at_end: bool) -> Vec<Vec<u8>> {
        let mut chunks = Vec::new();
        let mut buffer = ChunkBuffer::new();
        for piece in pieces {
            buffer.push(piece, &mut |chunk: &[u8]| chunks.push(chunk.to_vec()));
        }
        if flush_at_end {
            buffer.flush(&mut |chunk: &[u8]| chunks.push(chunk.to_vec()));
        }
        chunks
    }

    #[test]
    fn long_text_goes_out_in_40_byte_chunks() {
        let text = [b'x'; 95];
        let chunks = sent_chunks(&[&text[..30], &text[30..]], true);
        let lengths: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(lengths, [40, 40, 15]);
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn newline_sends_at_once_and_nothing_is_left_behind() {
        let chunks = sent_chunks(&[b"a\nbc", b"d\n"], false);
        assert_eq!(chunks, [b"a\n".to_vec(), b"bcd\n".to_vec()]);
        assert!(sent_chunks(&[b"no newline"], false).is_empty());
        assert_eq!(sent_chunks(&[b"tail"], true), [b"tail".to_vec()]);
        assert!(sent_chunks(&[], true).is_empty());
    }
}

//! The shared memory a channel lives in, seen through a small trait so that the ring logic runs
//! on the host over ordinary memory and on the target over volatile pointers.

use core::sync::atomic::{AtomicU32, Ordering};

/// Byte-addressed access to a channel region that another domain also maps.
///
/// Offsets are from the start of the region. The ring code only ever passes an `offset` (and
/// length) inside `0..size()`, and 4-byte-aligned offsets to the `u32` accessors. A safe trait
/// cannot turn that promise into a safety guarantee, so an implementation over raw pointers
/// still checks its bounds (cheaply) rather than relying on it.
///
/// Every method takes `&self`: the memory is shared with the peer by nature, and writes go
/// through volatile or atomic accesses, never through a Rust reference to the bytes.
pub trait SharedMemory {
    /// The region's size in bytes.
    fn size(&self) -> usize;

    /// Loads a little-endian `u32` with acquire semantics: what the peer wrote before its release
    /// store of this value is visible after this load.
    fn load_u32_acquire(&self, offset: usize) -> u32;

    /// Stores a little-endian `u32` with release semantics: everything written before is visible
    /// to a peer that observes this value with an acquire load.
    fn store_u32_release(&self, offset: usize, value: u32);

    /// Copies `buffer.len()` bytes starting at `offset` into `buffer`.
    fn read_bytes(&self, offset: usize, buffer: &mut [u8]);

    /// Copies `bytes` into the region starting at `offset`.
    fn write_bytes(&self, offset: usize, bytes: &[u8]);
}

/// A [`SharedMemory`] over a slice of atomic words: safe, usable from several threads, for host
/// tests and for any user that has the region as `&[AtomicU32]`. Byte `i` of the region is byte
/// `i % 4` (little-endian) of word `i / 4`.
///
/// Out-of-range accesses read zeros and drop writes instead of panicking (the ring never makes
/// them; see [`SharedMemory`]).
#[derive(Clone, Copy, Debug)]
pub struct AtomicWordMemory<'words> {
    words: &'words [AtomicU32],
}

impl<'words> AtomicWordMemory<'words> {
    /// The region formed by `words` (`4 * words.len()` bytes).
    pub const fn new(words: &'words [AtomicU32]) -> Self {
        Self { words }
    }

    fn word(&self, offset: usize) -> Option<&AtomicU32> {
        if !offset.is_multiple_of(4) {
            return None;
        }
        self.words.get(offset / 4)
    }
}

impl SharedMemory for AtomicWordMemory<'_> {
    fn size(&self) -> usize {
        self.words.len() * 4
    }

    fn load_u32_acquire(&self, offset: usize) -> u32 {
        self.word(offset)
            .map_or(0, |word| word.load(Ordering::Acquire))
    }

    fn store_u32_release(&self, offset: usize, value: u32) {
        if let Some(word) = self.word(offset) {
            word.store(value, Ordering::Release);
        }
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) {
        for (index, byte) in buffer.iter_mut().enumerate() {
            let position = offset.saturating_add(index);
            *byte = self.words.get(position / 4).map_or(0, |word| {
                // The shift picks byte `position % 4`; the cast keeps exactly that byte.
                (word.load(Ordering::Relaxed) >> (8 * (position % 4))) as u8
            });
        }
    }

    fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        for (index, &byte) in bytes.iter().enumerate() {
            let position = offset.saturating_add(index);
            if let Some(word) = self.words.get(position / 4) {
                let shift = 8 * (position % 4);
                // Only this side writes the bytes of a message it produces, so a relaxed
                // read-modify-write of the word loses nobody's update.
                let old = word.load(Ordering::Relaxed);
                let new = (old & !(0xFF << shift)) | (u32::from(byte) << shift);
                word.store(new, Ordering::Relaxed);
            }
        }
    }
}

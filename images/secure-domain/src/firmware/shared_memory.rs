//! A channel's ring region as the ring crate's [`SharedMemory`]: volatile byte copies for the
//! data, and load-acquire / store-release instructions (LDAR, STLR; Arm ARM B2.3.3) for the
//! indices, so ring contents and indices are ordered against hyp-arm on another CPU.
//!
//! The region is mapped Normal write-back inner-shareable here and at EL2, so plain loads and
//! stores are coherent with hyp-arm's; what matters is their order, which the acquire/release
//! instructions give and the inline assembly (not marked `nomem`) keeps the compiler from
//! undoing. hyp-arm may write anything into the region at any time: every value read is only
//! data to the ring code, which checks it, and every access is bounds-checked here as well.

use core::arch::asm;

use hyp_arm_channel_ring::SharedMemory;

/// The mapped ring region.
pub struct MappedRegion {
    base: usize,
    size: usize,
}

impl MappedRegion {
    /// The region of `size` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base..base + size` must be mapped readable and writable as Normal memory for the rest of
    /// the program, 4-byte aligned, and used by nothing else in this domain (hyp-arm may write
    /// it concurrently: it is never seen through a Rust reference).
    pub unsafe fn new(base: usize, size: usize) -> Self {
        Self { base, size }
    }

    /// The address of `length` bytes at `offset`, if they are inside the region.
    fn address(&self, offset: usize, length: usize) -> Option<usize> {
        let end = offset.checked_add(length)?;
        (end <= self.size).then_some(self.base + offset)
    }

    /// The address of the 4-byte aligned word at `offset`, if it is inside the region.
    fn word_address(&self, offset: usize) -> Option<usize> {
        self.address(offset, 4).filter(|_| offset.is_multiple_of(4))
    }
}

impl SharedMemory for MappedRegion {
    fn size(&self) -> usize {
        self.size
    }

    /// Out of range or misaligned (which the ring code never asks): reads 0.
    fn load_u32_acquire(&self, offset: usize) -> u32 {
        let Some(address) = self.word_address(offset) else {
            return 0;
        };
        let value: u32;
        // SAFETY: `address` is an aligned word inside the region `new`'s caller handed over;
        // LDAR reads it and orders every later access after it. Not `nomem`: the compiler must
        // not move the ring's reads of the data above it.
        unsafe {
            asm!("ldar {value:w}, [{address}]", value = out(reg) value, address = in(reg) address, options(nostack));
        }
        u32::from_le(value)
    }

    /// Out of range or misaligned (which the ring code never asks): dropped.
    fn store_u32_release(&self, offset: usize, value: u32) {
        let Some(address) = self.word_address(offset) else {
            return;
        };
        // SAFETY: `address` is an aligned word inside the region `new`'s caller handed over;
        // STLR writes it after every earlier access. Not `nomem`: the compiler must not move
        // the ring's writes of the data below it.
        unsafe {
            asm!("stlr {value:w}, [{address}]", value = in(reg) value.to_le(), address = in(reg) address, options(nostack));
        }
    }

    /// Out of range (which the ring code never asks): the buffer is filled with zeros.
    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) {
        let Some(address) = self.address(offset, buffer.len()) else {
            buffer.fill(0);
            return;
        };
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: inside the region (checked above), which `new`'s caller handed over;
            // volatile because hyp-arm may change it at any time.
            *byte = unsafe { ((address + index) as *const u8).read_volatile() };
        }
    }

    /// Out of range (which the ring code never asks): dropped.
    fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        let Some(address) = self.address(offset, bytes.len()) else {
            return;
        };
        for (index, &byte) in bytes.iter().enumerate() {
            // SAFETY: inside the region (checked above), which `new`'s caller handed over;
            // volatile because hyp-arm reads it concurrently.
            unsafe { ((address + index) as *mut u8).write_volatile(byte) };
        }
    }
}

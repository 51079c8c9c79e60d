//! A checked descriptor chain and the copies in and out of its buffers.

use core::fmt;

use super::{Buffer, DescriptorChain, MAX_CHAIN_LENGTH};
use crate::channel::{GuestAddress, GuestMemory, GuestMemoryError};

/// A copy to or from a chain's buffers that guest memory refused. Buffers are checked against
/// the guest's RAM when the chain is taken, so this means the RAM map changed under the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainCopyError {
    pub head: u16,
    pub memory: GuestMemoryError,
}

impl fmt::Display for ChainCopyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "chain from descriptor {}: {}",
            self.head, self.memory
        )
    }
}

impl DescriptorChain {
    pub(super) fn empty(head: u16) -> Self {
        Self {
            head,
            buffers: [Buffer::default(); MAX_CHAIN_LENGTH],
            count: 0,
            readable_count: 0,
        }
    }

    /// The index of the chain's first descriptor, which identifies it in the used ring.
    pub fn head(&self) -> u16 {
        self.head
    }

    /// The device-readable buffers, in order.
    pub fn readable(&self) -> &[Buffer] {
        &self.buffers[..self.readable_count]
    }

    /// The device-writable buffers, in order.
    pub fn writable(&self) -> &[Buffer] {
        &self.buffers[self.readable_count..self.count]
    }

    /// The bytes of all device-readable buffers.
    pub fn readable_length(&self) -> u64 {
        total_length(self.readable())
    }

    /// The bytes of all device-writable buffers.
    pub fn writable_length(&self) -> u64 {
        total_length(self.writable())
    }

    /// Copies the readable bytes from `offset` (counted across the readable buffers) into
    /// `buffer`; returns how many there were (fewer than `buffer.len()` at the end).
    pub fn read(
        &self,
        memory: &impl GuestMemory,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<usize, ChainCopyError> {
        let mut done = 0;
        for (address, length) in pieces(self.readable(), offset, buffer.len()) {
            let destination = &mut buffer[done..done + length];
            memory
                .read(address, destination)
                .map_err(|memory| ChainCopyError {
                    head: self.head,
                    memory,
                })?;
            done += length;
        }
        Ok(done)
    }

    /// Copies `bytes` into the writable buffers from `offset` (counted across them); returns
    /// how many fitted.
    pub fn write(
        &self,
        memory: &impl GuestMemory,
        offset: u64,
        bytes: &[u8],
    ) -> Result<usize, ChainCopyError> {
        let mut done = 0;
        for (address, length) in pieces(self.writable(), offset, bytes.len()) {
            memory
                .write(address, &bytes[done..done + length])
                .map_err(|memory| ChainCopyError {
                    head: self.head,
                    memory,
                })?;
            done += length;
        }
        Ok(done)
    }
}

fn total_length(buffers: &[Buffer]) -> u64 {
    buffers.iter().map(|buffer| u64::from(buffer.length)).sum()
}

/// The (address, length) pieces of `wanted` bytes from `offset` across `buffers`, in order; they
/// add up to `wanted` or to what the buffers hold past `offset`.
fn pieces(
    buffers: &[Buffer],
    offset: u64,
    wanted: usize,
) -> impl Iterator<Item = (GuestAddress, usize)> + '_ {
    let mut skip = offset;
    let mut remaining = wanted;
    buffers.iter().filter_map(move |buffer| {
        let length = u64::from(buffer.length);
        if skip >= length {
            skip -= length;
            return None;
        }
        if remaining == 0 {
            return None;
        }
        // `skip < length` and both fit in u32 lengths, so the address stays in the checked buffer.
        let address = GuestAddress(buffer.address.0 + skip);
        let available = length - skip;
        skip = 0;
        let take = remaining.min(usize::try_from(available).unwrap_or(usize::MAX));
        remaining -= take;
        Some((address, take))
    })
}

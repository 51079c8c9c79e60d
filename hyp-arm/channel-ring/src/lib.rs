//! The shared-memory channel between hyp-arm and a backend domain (the secure domain): a header
//! and two single-producer/single-consumer rings of framed messages, one per direction. The
//! format is specified in `docs/CHANNELS.md`.
//!
//! Both sides use this crate. Neither trusts the other: every index and length read from the
//! shared memory is checked before it is used, and a corrupt one is an error, never a panic or an
//! access outside the region. Each side keeps its own index privately and only publishes it, so
//! the peer overwriting it changes nothing here.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod error;
mod memory;
mod ring;

pub use error::RingError;
pub use memory::{AtomicWordMemory, SharedMemory};
pub use ring::{Consumer, Producer};

use core::fmt;

/// "HYCH" read as a little-endian `u32`: the first word of an initialized channel.
pub const MAGIC: u32 = u32::from_le_bytes(*b"HYCH");
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// The header's size; the first ring's data starts here.
pub const HEADER_SIZE: usize = 0x140;
/// Bytes in front of every message in a ring: its length (`u32`) and a reserved `u32`.
pub const FRAME_HEADER_SIZE: usize = 8;
/// Messages and frames are aligned to this in the ring.
pub const FRAME_ALIGNMENT: usize = 8;
/// The size of the virtio-vsock packet header (`struct virtio_vsock_hdr`, virtio 1.2 5.10.6).
pub const VSOCK_HEADER_SIZE: usize = 44;
/// The largest payload of one vsock packet carried by a channel.
pub const MAX_PAYLOAD: usize = 4096;
/// The largest message a channel may carry: one vsock packet, header and payload.
pub const MAX_MESSAGE: usize = VSOCK_HEADER_SIZE + MAX_PAYLOAD;
/// The region size hyp-arm gives a channel.
pub const DEFAULT_REGION_SIZE: usize = 64 * 1024;

/// Header field offsets (docs/CHANNELS.md). Each index sits in a 64-byte line of its own so the
/// two sides never write the same cache line.
mod field {
    pub const MAGIC: usize = 0x00;
    pub const VERSION: usize = 0x04;
    pub const REGION_SIZE: usize = 0x08;
    pub const RING_SIZE: usize = 0x0C;
    pub const MAX_MESSAGE: usize = 0x10;
    pub const DATA_OFFSET: usize = 0x14;
    pub const TO_BACKEND_PRODUCED: usize = 0x40;
    pub const TO_BACKEND_CONSUMED: usize = 0x80;
    pub const TO_HYPERVISOR_PRODUCED: usize = 0xC0;
    pub const TO_HYPERVISOR_CONSUMED: usize = 0x100;
}

/// Which way a ring carries messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// hyp-arm produces, the backend consumes (the guest's transmitted packets).
    HypervisorToBackend,
    /// The backend produces, hyp-arm consumes (packets for the guest).
    BackendToHypervisor,
}

impl fmt::Display for Direction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::HypervisorToBackend => "hypervisor-to-backend",
            Self::BackendToHypervisor => "backend-to-hypervisor",
        })
    }
}

/// Which end of the channel the caller is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Hypervisor,
    Backend,
}

/// The frame size of a message of `length` bytes: header plus payload rounded up to 8.
pub const fn frame_size(length: usize) -> usize {
    FRAME_HEADER_SIZE + length.next_multiple_of(FRAME_ALIGNMENT)
}

/// Where one ring lives in the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingLayout {
    pub direction: Direction,
    pub produced_offset: usize,
    pub consumed_offset: usize,
    pub data_offset: usize,
    /// A power of two, so the free-running byte counters wrap consistently.
    pub size: u32,
    pub max_message: usize,
}

/// A validated channel header: the layout of both rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    ring_size: u32,
    max_message: usize,
}

impl Channel {
    /// Formats `memory` as an empty channel whose messages are at most `max_message` bytes (the
    /// side that owns the region does this, before the peer can see it). Each ring gets the
    /// largest power of two that lets both fit after the header.
    pub fn initialize(
        memory: &impl SharedMemory,
        max_message: usize,
    ) -> Result<Channel, RingError> {
        if max_message == 0 || max_message > MAX_MESSAGE {
            return Err(RingError::UnsupportedMaxMessage { max_message });
        }
        let size = memory.size();
        let smallest_ring = frame_size(max_message).next_power_of_two();
        let needed = HEADER_SIZE + 2 * smallest_ring;
        let region_size = u32::try_from(size).ok().filter(|_| size >= needed);
        let Some(region_size) = region_size else {
            return Err(RingError::RegionTooSmall { size, needed });
        };
        let half = (size - HEADER_SIZE) / 2;
        // `half >= smallest_ring >= 1`, so the shift keeps a power of two no larger than `half`.
        let ring_size = 1usize << (usize::BITS - 1 - half.leading_zeros());
        // Below `size`, which fits a u32.
        let ring_size = ring_size as u32;
        // Invalidate first, so a peer never sees a half-written header as valid.
        memory.store_u32_release(field::MAGIC, 0);
        memory.store_u32_release(field::VERSION, VERSION);
        memory.store_u32_release(field::REGION_SIZE, region_size);
        memory.store_u32_release(field::RING_SIZE, ring_size);
        // At most MAX_MESSAGE, checked above.
        memory.store_u32_release(field::MAX_MESSAGE, max_message as u32);
        memory.store_u32_release(field::DATA_OFFSET, HEADER_SIZE as u32);
        for index in [
            field::TO_BACKEND_PRODUCED,
            field::TO_BACKEND_CONSUMED,
            field::TO_HYPERVISOR_PRODUCED,
            field::TO_HYPERVISOR_CONSUMED,
        ] {
            memory.store_u32_release(index, 0);
        }
        memory.store_u32_release(field::MAGIC, MAGIC);
        Ok(Channel {
            ring_size,
            max_message,
        })
    }

    /// Reads and checks the header another side wrote.
    pub fn attach(memory: &impl SharedMemory) -> Result<Channel, RingError> {
        let magic = memory.load_u32_acquire(field::MAGIC);
        if magic != MAGIC {
            return Err(RingError::BadMagic { found: magic });
        }
        let version = memory.load_u32_acquire(field::VERSION);
        if version != VERSION {
            return Err(RingError::UnsupportedVersion { found: version });
        }
        let mapped = memory.size();
        let region_size = memory.load_u32_acquire(field::REGION_SIZE);
        if usize::try_from(region_size) != Ok(mapped) {
            return Err(RingError::RegionSizeMismatch {
                header: region_size,
                mapped,
            });
        }
        let data_offset = memory.load_u32_acquire(field::DATA_OFFSET);
        if usize::try_from(data_offset) != Ok(HEADER_SIZE) {
            return Err(RingError::BadDataOffset { found: data_offset });
        }
        let max_message = memory.load_u32_acquire(field::MAX_MESSAGE);
        let max_message_bytes = max_message as usize;
        if max_message_bytes == 0 || max_message_bytes > MAX_MESSAGE {
            return Err(RingError::BadMaxMessage { found: max_message });
        }
        let ring_size = memory.load_u32_acquire(field::RING_SIZE);
        let ring_bytes = ring_size as usize;
        let fits = ring_bytes
            .checked_mul(2)
            .and_then(|rings| rings.checked_add(HEADER_SIZE))
            .is_some_and(|end| end <= mapped);
        if !ring_size.is_power_of_two() || ring_bytes < frame_size(max_message_bytes) || !fits {
            return Err(RingError::BadRingSize { ring_size });
        }
        Ok(Channel {
            ring_size,
            max_message: max_message_bytes,
        })
    }

    /// The bytes of each ring's data area.
    pub fn ring_size(&self) -> usize {
        self.ring_size as usize
    }

    /// The largest message either ring carries.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// The producer and consumer of `side`, starting at the indices in the shared memory (both
    /// zero after [`Channel::initialize`]; a backend that restarts picks up where it was).
    pub fn endpoints(
        &self,
        side: Side,
        memory: &impl SharedMemory,
    ) -> Result<(Producer, Consumer), RingError> {
        let (outgoing, incoming) = match side {
            Side::Hypervisor => (
                Direction::HypervisorToBackend,
                Direction::BackendToHypervisor,
            ),
            Side::Backend => (
                Direction::BackendToHypervisor,
                Direction::HypervisorToBackend,
            ),
        };
        let producer = Producer::attach(self.layout(outgoing), memory)?;
        let consumer = Consumer::attach(self.layout(incoming), memory)?;
        Ok((producer, consumer))
    }

    fn layout(&self, direction: Direction) -> RingLayout {
        let (produced_offset, consumed_offset, data_offset) = match direction {
            Direction::HypervisorToBackend => (
                field::TO_BACKEND_PRODUCED,
                field::TO_BACKEND_CONSUMED,
                HEADER_SIZE,
            ),
            Direction::BackendToHypervisor => (
                field::TO_HYPERVISOR_PRODUCED,
                field::TO_HYPERVISOR_CONSUMED,
                HEADER_SIZE + self.ring_size as usize,
            ),
        };
        RingLayout {
            direction,
            produced_offset,
            consumed_offset,
            data_offset,
            size: self.ring_size,
            max_message: self.max_message,
        }
    }
}

#[cfg(test)]
mod tests;

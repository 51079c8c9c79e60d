//! The device side of a split virtqueue (virtio 1.2 section 2.7): take descriptor chains the
//! driver made available, read and fill their buffers, return them in the used ring, and decide
//! whether the driver wants an interrupt.
//!
//! Everything the driver wrote is untrusted. A chain is walked once and copied: its descriptors
//! are checked (inside guest RAM, next index in range, no loop, no indirect table, device-readable
//! buffers before device-writable ones) before anyone uses them, so the driver changing them
//! afterwards changes nothing here. Offered features: none of VIRTIO_F_INDIRECT_DESC,
//! VIRTIO_F_EVENT_IDX, VIRTIO_F_IN_ORDER; only the split layout.
//!
//! Ordering: the driver publishes with a write barrier before `avail.idx` (2.7.13); the device
//! reads `avail.idx` then fences (acquire) before reading ring entries and descriptors, fences
//! (release) before publishing `used.idx`, and fences fully before reading `avail.flags` to decide
//! on the interrupt (2.7.10). On AArch64 these are DMB instructions, valid against another vCPU.

use core::fmt;
use core::sync::atomic::{fence, Ordering};

use super::{GuestAddress, GuestMemory};

/// The largest queue hyp-arm offers (QueueNumMax).
pub const MAX_QUEUE_SIZE: u16 = 256;
/// The most descriptors in one chain (a vsock packet uses one or two; Linux's scatter-gather
/// transmit at most 2 + MAX_SKB_FRAGS = 19).
pub const MAX_CHAIN_LENGTH: usize = 32;

/// Descriptor flags (2.7.5).
const DESCRIPTOR_NEXT: u16 = 1;
const DESCRIPTOR_WRITE: u16 = 2;
const DESCRIPTOR_INDIRECT: u16 = 4;
/// `avail.flags` bit: the driver wants no interrupt (2.7.6).
const AVAILABLE_NO_INTERRUPT: u16 = 1;
/// Sizes (2.7.5-2.7.8).
const DESCRIPTOR_SIZE: u64 = 16;
const USED_ELEMENT_SIZE: u64 = 8;
/// `flags` and `idx` in front of the available and used rings.
const RING_HEADER_SIZE: u64 = 4;

/// The three areas of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueArea {
    DescriptorTable,
    AvailableRing,
    UsedRing,
}

impl fmt::Display for QueueArea {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::DescriptorTable => "descriptor table",
            Self::AvailableRing => "available ring",
            Self::UsedRing => "used ring",
        })
    }
}

/// A malformed queue: the driver broke the virtio rules (or is hostile). Each kind is distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtqueueError {
    /// The queue size is zero, not a power of two, or above [`MAX_QUEUE_SIZE`].
    BadQueueSize { size: u16 },
    /// An area is not aligned as 2.7 requires (16, 2 and 4 bytes).
    MisalignedArea {
        area: QueueArea,
        address: GuestAddress,
    },
    /// An area (or the part of it read or written) is outside the guest's RAM.
    AreaOutsideGuestRam {
        area: QueueArea,
        address: GuestAddress,
        length: u64,
    },
    /// `avail.idx` moved more than a queue's worth past the last chain taken.
    AvailableIndexJump { last: u16, found: u16, size: u16 },
    /// An available ring entry names a descriptor beyond the table.
    HeadOutOfRange { head: u16, size: u16 },
    /// A descriptor's `next` is beyond the table.
    NextOutOfRange {
        descriptor: u16,
        next: u16,
        size: u16,
    },
    /// A chain comes back to a descriptor it already went through.
    ChainLoops { head: u16, descriptor: u16 },
    /// A chain longer than the queue or than [`MAX_CHAIN_LENGTH`].
    ChainTooLong { head: u16, limit: usize },
    /// A descriptor's buffer is not entirely in the guest's RAM.
    BufferOutsideGuestRam {
        descriptor: u16,
        address: GuestAddress,
        length: u32,
    },
    /// VIRTQ_DESC_F_INDIRECT, whose feature was not offered.
    IndirectDescriptor { descriptor: u16 },
    /// A device-readable buffer after a device-writable one (2.7.4.2 forbids it).
    WritableBeforeReadable { descriptor: u16 },
}

impl fmt::Display for VirtqueueError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadQueueSize { size } => write!(
                formatter,
                "queue size {size} is not a power of two in 1..={MAX_QUEUE_SIZE}"
            ),
            Self::MisalignedArea { area, address } => {
                write!(formatter, "{area} at {address} is misaligned")
            }
            Self::AreaOutsideGuestRam {
                area,
                address,
                length,
            } => write!(
                formatter,
                "{area}: {length} bytes at {address} are outside the guest's RAM"
            ),
            Self::AvailableIndexJump { last, found, size } => write!(
                formatter,
                "available index jumped from {last} to {found}, more than the queue size {size}"
            ),
            Self::HeadOutOfRange { head, size } => write!(
                formatter,
                "available ring names descriptor {head}, beyond the queue size {size}"
            ),
            Self::NextOutOfRange {
                descriptor,
                next,
                size,
            } => write!(
                formatter,
                "descriptor {descriptor} chains to {next}, beyond the queue size {size}"
            ),
            Self::ChainLoops { head, descriptor } => write!(
                formatter,
                "chain from descriptor {head} loops back to descriptor {descriptor}"
            ),
            Self::ChainTooLong { head, limit } => write!(
                formatter,
                "chain from descriptor {head} is longer than {limit} descriptors"
            ),
            Self::BufferOutsideGuestRam {
                descriptor,
                address,
                length,
            } => write!(
                formatter,
                "descriptor {descriptor}: buffer of {length} bytes at {address} is outside the guest's RAM"
            ),
            Self::IndirectDescriptor { descriptor } => write!(
                formatter,
                "descriptor {descriptor} is indirect, which was not offered"
            ),
            Self::WritableBeforeReadable { descriptor } => write!(
                formatter,
                "descriptor {descriptor} is device-readable but follows a device-writable one"
            ),
        }
    }
}

/// Where the driver put a queue, as it wrote the registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLayout {
    /// Entries (QueueNum).
    pub size: u16,
    pub descriptor_table: GuestAddress,
    /// The "driver area".
    pub available_ring: GuestAddress,
    /// The "device area".
    pub used_ring: GuestAddress,
}

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buffer {
    pub address: GuestAddress,
    pub length: u32,
}

/// A checked descriptor chain: its device-readable buffers, then its device-writable ones.
#[derive(Clone, Debug)]
pub struct DescriptorChain {
    head: u16,
    buffers: [Buffer; MAX_CHAIN_LENGTH],
    count: usize,
    readable_count: usize,
}

/// The device's state of one queue: the next available entry to take and the next used entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Virtqueue {
    layout: QueueLayout,
    next_available: u16,
    next_used: u16,
}

mod chain;
pub use chain::ChainCopyError;

impl Virtqueue {
    /// A queue the driver just enabled (QueueReady), checked for size and alignment (2.7).
    pub fn new(layout: QueueLayout) -> Result<Virtqueue, VirtqueueError> {
        let size = layout.size;
        if size == 0 || !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(VirtqueueError::BadQueueSize { size });
        }
        for (area, address, alignment) in [
            (QueueArea::DescriptorTable, layout.descriptor_table, 16),
            (QueueArea::AvailableRing, layout.available_ring, 2),
            (QueueArea::UsedRing, layout.used_ring, 4),
        ] {
            if !address.0.is_multiple_of(alignment) {
                return Err(VirtqueueError::MisalignedArea { area, address });
            }
        }
        Ok(Virtqueue {
            layout,
            next_available: 0,
            next_used: 0,
        })
    }

    /// The layout the driver gave.
    pub fn layout(&self) -> QueueLayout {
        self.layout
    }

    /// How many chains the driver has made available and the device not yet taken.
    pub fn available_count(&self, memory: &impl GuestMemory) -> Result<u16, VirtqueueError> {
        let found = self.read_u16(memory, QueueArea::AvailableRing, 2)?;
        let count = found.wrapping_sub(self.next_available);
        if count > self.layout.size {
            return Err(VirtqueueError::AvailableIndexJump {
                last: self.next_available,
                found,
                size: self.layout.size,
            });
        }
        Ok(count)
    }

    /// Takes the next available chain, checked and copied, or `None` if there is none.
    pub fn pop(
        &mut self,
        memory: &impl GuestMemory,
    ) -> Result<Option<DescriptorChain>, VirtqueueError> {
        if self.available_count(memory)? == 0 {
            return Ok(None);
        }
        // The ring entry and the descriptors were written before avail.idx (2.7.13).
        fence(Ordering::Acquire);
        let slot = u64::from(self.next_available % self.layout.size);
        let head = self.read_u16(
            memory,
            QueueArea::AvailableRing,
            RING_HEADER_SIZE + 2 * slot,
        )?;
        let chain = self.walk(memory, head)?;
        self.next_available = self.next_available.wrapping_add(1);
        Ok(Some(chain))
    }

    /// Returns the chain starting at `head` to the driver with `written` bytes filled in.
    pub fn push_used(
        &mut self,
        memory: &impl GuestMemory,
        head: u16,
        written: u32,
    ) -> Result<(), VirtqueueError> {
        let slot = u64::from(self.next_used % self.layout.size);
        let mut element = [0; USED_ELEMENT_SIZE as usize];
        element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        element[4..].copy_from_slice(&written.to_le_bytes());
        let offset = RING_HEADER_SIZE + USED_ELEMENT_SIZE * slot;
        self.write_area(memory, QueueArea::UsedRing, offset, &element)?;
        self.next_used = self.next_used.wrapping_add(1);
        // The element must be visible before the index that publishes it (2.7.8.2).
        fence(Ordering::Release);
        self.write_area(
            memory,
            QueueArea::UsedRing,
            2,
            &self.next_used.to_le_bytes(),
        )
    }

    /// Whether the driver wants an interrupt for the used buffers just published: unless it set
    /// VIRTQ_AVAIL_F_NO_INTERRUPT (no event index was offered, 2.7.10).
    pub fn should_interrupt(&self, memory: &impl GuestMemory) -> Result<bool, VirtqueueError> {
        // used.idx must be globally visible before the flags are read, or a driver that just
        // re-enabled interrupts could miss this one (2.7.10).
        fence(Ordering::SeqCst);
        let flags = self.read_u16(memory, QueueArea::AvailableRing, 0)?;
        Ok(flags & AVAILABLE_NO_INTERRUPT == 0)
    }

    /// Walks and checks the chain from `head`.
    fn walk(
        &self,
        memory: &impl GuestMemory,
        head: u16,
    ) -> Result<DescriptorChain, VirtqueueError> {
        let size = self.layout.size;
        if head >= size {
            return Err(VirtqueueError::HeadOutOfRange { head, size });
        }
        let limit = MAX_CHAIN_LENGTH.min(usize::from(size));
        let mut chain = DescriptorChain::empty(head);
        let mut visited = [0u64; MAX_QUEUE_SIZE as usize / 64];
        let mut index = head;
        loop {
            let (word, bit) = (usize::from(index) / 64, 1u64 << (index % 64));
            if visited[word] & bit != 0 {
                return Err(VirtqueueError::ChainLoops {
                    head,
                    descriptor: index,
                });
            }
            visited[word] |= bit;
            if chain.count == limit {
                return Err(VirtqueueError::ChainTooLong { head, limit });
            }
            let mut raw = [0; DESCRIPTOR_SIZE as usize];
            let offset = DESCRIPTOR_SIZE * u64::from(index);
            self.read_area(memory, QueueArea::DescriptorTable, offset, &mut raw)?;
            let mut address = [0; 8];
            address.copy_from_slice(&raw[..8]);
            let address = GuestAddress(u64::from_le_bytes(address));
            let length = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
            let flags = u16::from_le_bytes([raw[12], raw[13]]);
            let next = u16::from_le_bytes([raw[14], raw[15]]);
            if flags & DESCRIPTOR_INDIRECT != 0 {
                return Err(VirtqueueError::IndirectDescriptor { descriptor: index });
            }
            if !memory.contains(address, u64::from(length)) {
                return Err(VirtqueueError::BufferOutsideGuestRam {
                    descriptor: index,
                    address,
                    length,
                });
            }
            let writable = flags & DESCRIPTOR_WRITE != 0;
            if !writable && chain.count > chain.readable_count {
                return Err(VirtqueueError::WritableBeforeReadable { descriptor: index });
            }
            chain.buffers[chain.count] = Buffer { address, length };
            chain.count += 1;
            if !writable {
                chain.readable_count += 1;
            }
            if flags & DESCRIPTOR_NEXT == 0 {
                return Ok(chain);
            }
            if next >= size {
                return Err(VirtqueueError::NextOutOfRange {
                    descriptor: index,
                    next,
                    size,
                });
            }
            index = next;
        }
    }

    fn area_address(&self, area: QueueArea) -> GuestAddress {
        match area {
            QueueArea::DescriptorTable => self.layout.descriptor_table,
            QueueArea::AvailableRing => self.layout.available_ring,
            QueueArea::UsedRing => self.layout.used_ring,
        }
    }

    /// The address `offset` bytes into `area`, for an access of `length` bytes.
    fn area_offset(
        &self,
        area: QueueArea,
        offset: u64,
        length: usize,
    ) -> Result<GuestAddress, VirtqueueError> {
        let start = self.area_address(area);
        start
            .checked_add(offset)
            .ok_or(VirtqueueError::AreaOutsideGuestRam {
                area,
                address: start,
                length: offset.saturating_add(length as u64),
            })
    }

    /// Reads `buffer.len()` bytes at `offset` into `area`.
    fn read_area(
        &self,
        memory: &impl GuestMemory,
        area: QueueArea,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<(), VirtqueueError> {
        let address = self.area_offset(area, offset, buffer.len())?;
        memory
            .read(address, buffer)
            .map_err(|error| VirtqueueError::AreaOutsideGuestRam {
                area,
                address: error.address,
                length: error.length,
            })
    }

    fn write_area(
        &self,
        memory: &impl GuestMemory,
        area: QueueArea,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), VirtqueueError> {
        let address = self.area_offset(area, offset, bytes.len())?;
        memory
            .write(address, bytes)
            .map_err(|error| VirtqueueError::AreaOutsideGuestRam {
                area,
                address: error.address,
                length: error.length,
            })
    }

    fn read_u16(
        &self,
        memory: &impl GuestMemory,
        area: QueueArea,
        offset: u64,
    ) -> Result<u16, VirtqueueError> {
        let mut bytes = [0; 2];
        self.read_area(memory, area, offset, &mut bytes)?;
        Ok(u16::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests;

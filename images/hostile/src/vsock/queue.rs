//! The driver's side of one split virtqueue (virtio 1.2 section 2.7) in `dma`'s block: write
//! descriptors, publish chains in the available ring, take what the device put in the used ring.
//! The fault cases write whatever they like into the same places.

use super::dma;

/// Entries of each queue.
pub const QUEUE_SIZE: u16 = 16;

/// Descriptor flags (2.7.5).
pub const NEXT: u16 = 1;
pub const WRITE: u16 = 2;
pub const INDIRECT: u16 = 4;

/// The driver's state of one queue: what it published and what it took back.
pub struct DriverQueue {
    pub index: u16,
    /// avail.idx as last published.
    published: u16,
    /// The used ring entries taken so far.
    taken: u16,
}

/// One used ring entry: the chain's head and the bytes the device wrote.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Used {
    pub head: u32,
    pub length: u32,
}

impl DriverQueue {
    /// A queue just set up (its memory zeroed).
    pub fn new(index: u16) -> DriverQueue {
        DriverQueue {
            index,
            published: 0,
            taken: 0,
        }
    }

    /// Writes descriptor `descriptor`.
    pub fn set_descriptor(
        &self,
        descriptor: u16,
        address: u64,
        length: u32,
        flags: u16,
        next: u16,
    ) {
        let offset =
            dma::queue_area(self.index, dma::DESCRIPTOR_TABLE) + 16 * usize::from(descriptor);
        dma::write_u64(offset, address);
        dma::write_u32(offset + 8, length);
        dma::write_u16(offset + 12, flags);
        dma::write_u16(offset + 14, next);
    }

    /// Puts `head` in the next available ring slot and publishes it (avail.idx + 1).
    pub fn make_available(&mut self, head: u16) {
        let ring = dma::queue_area(self.index, dma::AVAILABLE_RING);
        let slot = usize::from(self.published % QUEUE_SIZE);
        dma::write_u16(ring + 4 + 2 * slot, head);
        // The entry before the index that publishes it (2.7.13).
        dma::barrier();
        self.published = self.published.wrapping_add(1);
        dma::write_u16(ring + 2, self.published);
    }

    /// Writes avail.idx as it is, without an entry: a driver claiming more than it wrote.
    pub fn publish_index(&mut self, index: u16) {
        self.published = index;
        dma::write_u16(dma::queue_area(self.index, dma::AVAILABLE_RING) + 2, index);
    }

    /// The next entry the device put in the used ring, if there is one.
    pub fn take_used(&mut self) -> Option<Used> {
        let ring = dma::queue_area(self.index, dma::USED_RING);
        if dma::read_u16(ring + 2) == self.taken {
            return None;
        }
        // The entry was written before used.idx (2.7.8.2).
        dma::barrier();
        let slot = usize::from(self.taken % QUEUE_SIZE);
        let used = Used {
            head: dma::read_u32(ring + 4 + 8 * slot),
            length: dma::read_u32(ring + 8 + 8 * slot),
        };
        self.taken = self.taken.wrapping_add(1);
        Some(used)
    }
}

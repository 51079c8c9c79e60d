//! Test doubles: a guest's RAM in a vector, and the driver's side of a split virtqueue laid out
//! in it the way Linux's virtio_ring does.

use core::cell::RefCell;

use super::virtqueue::QueueLayout;
use super::{GuestAddress, GuestMemory, GuestMemoryError, GuestRam, GuestRamRange};

/// Where the fake guest's RAM starts.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Its size.
pub const RAM_SIZE: u64 = 0x10_0000;

/// A guest's RAM: one range at [`RAM_BASE`].
pub struct FakeGuestMemory {
    ranges: [GuestRamRange; 1],
    bytes: RefCell<Vec<u8>>,
}

impl FakeGuestMemory {
    pub fn new() -> Self {
        Self {
            ranges: [GuestRamRange {
                base: GuestAddress(RAM_BASE),
                size: RAM_SIZE,
            }],
            bytes: RefCell::new(vec![0; RAM_SIZE as usize]),
        }
    }

    fn ram(&self) -> GuestRam<'_> {
        GuestRam::new(&self.ranges)
    }

    pub fn read_u16(&self, address: u64) -> u16 {
        let mut bytes = [0; 2];
        self.read(GuestAddress(address), &mut bytes).unwrap();
        u16::from_le_bytes(bytes)
    }

    pub fn read_u32(&self, address: u64) -> u32 {
        let mut bytes = [0; 4];
        self.read(GuestAddress(address), &mut bytes).unwrap();
        u32::from_le_bytes(bytes)
    }

    pub fn write_u16(&self, address: u64, value: u16) {
        self.write(GuestAddress(address), &value.to_le_bytes())
            .unwrap();
    }

    pub fn bytes(&self, address: u64, length: usize) -> Vec<u8> {
        let mut bytes = vec![0; length];
        self.read(GuestAddress(address), &mut bytes).unwrap();
        bytes
    }
}

impl GuestMemory for FakeGuestMemory {
    fn contains(&self, address: GuestAddress, length: u64) -> bool {
        self.ram().contains(address, length)
    }

    fn read(&self, address: GuestAddress, buffer: &mut [u8]) -> Result<(), GuestMemoryError> {
        self.ram().check(address, buffer.len() as u64)?;
        let start = (address.0 - RAM_BASE) as usize;
        buffer.copy_from_slice(&self.bytes.borrow()[start..start + buffer.len()]);
        Ok(())
    }

    fn write(&self, address: GuestAddress, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        self.ram().check(address, bytes.len() as u64)?;
        let start = (address.0 - RAM_BASE) as usize;
        self.bytes.borrow_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// One descriptor as the driver writes it.
#[derive(Clone, Copy, Debug)]
pub struct RawDescriptor {
    pub address: u64,
    pub length: u32,
    pub flags: u16,
    pub next: u16,
}

pub const NEXT: u16 = 1;
pub const WRITE: u16 = 2;
pub const INDIRECT: u16 = 4;

/// The driver's side of one split virtqueue in [`FakeGuestMemory`].
pub struct DriverQueue {
    pub layout: QueueLayout,
    /// The next free descriptor (descriptors are handed out in order and never reused here).
    next_descriptor: u16,
    /// The driver's copy of `avail.idx`.
    pub available_index: u16,
    /// Used entries already seen.
    pub used_seen: u16,
}

impl DriverQueue {
    /// A queue of `size` entries with its areas from `base` on (as vring_create_virtqueue lays
    /// them out: descriptors, available ring, used ring aligned to 4).
    pub fn new(base: u64, size: u16) -> Self {
        let descriptor_table = base;
        let available_ring = descriptor_table + 16 * u64::from(size);
        let used_ring = (available_ring + 6 + 2 * u64::from(size)).next_multiple_of(4);
        Self {
            layout: QueueLayout {
                size,
                descriptor_table: GuestAddress(descriptor_table),
                available_ring: GuestAddress(available_ring),
                used_ring: GuestAddress(used_ring),
            },
            next_descriptor: 0,
            available_index: 0,
            used_seen: 0,
        }
    }

    /// Zeroes the queue's areas, as the driver's freshly allocated (zeroed) ring memory is.
    pub fn clear(&self, memory: &FakeGuestMemory) {
        let end = self.layout.used_ring.0 + 6 + 8 * u64::from(self.layout.size);
        let length = (end - self.layout.descriptor_table.0) as usize;
        memory
            .write(self.layout.descriptor_table, &vec![0; length])
            .unwrap();
    }

    /// Writes descriptor `index`.
    pub fn write_descriptor(
        &self,
        memory: &FakeGuestMemory,
        index: u16,
        descriptor: RawDescriptor,
    ) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&descriptor.address.to_le_bytes());
        raw[8..12].copy_from_slice(&descriptor.length.to_le_bytes());
        raw[12..14].copy_from_slice(&descriptor.flags.to_le_bytes());
        raw[14..].copy_from_slice(&descriptor.next.to_le_bytes());
        let address = self.layout.descriptor_table.0 + 16 * u64::from(index);
        memory.write(GuestAddress(address), &raw).unwrap();
    }

    /// Puts `head` in the next available slot and publishes it.
    pub fn make_available(&mut self, memory: &FakeGuestMemory, head: u16) {
        let slot = u64::from(self.available_index % self.layout.size);
        memory.write_u16(self.layout.available_ring.0 + 4 + 2 * slot, head);
        self.available_index = self.available_index.wrapping_add(1);
        memory.write_u16(self.layout.available_ring.0 + 2, self.available_index);
    }

    /// Adds a chain of buffers `(address, length, device_writable)`; returns its head.
    pub fn add_chain(&mut self, memory: &FakeGuestMemory, buffers: &[(u64, u32, bool)]) -> u16 {
        let size = self.layout.size;
        let head = self.next_descriptor % size;
        for (position, &(address, length, writable)) in buffers.iter().enumerate() {
            let index = (self.next_descriptor + position as u16) % size;
            let last = position + 1 == buffers.len();
            let flags = if writable { WRITE } else { 0 } | if last { 0 } else { NEXT };
            let next = (index + 1) % size;
            self.write_descriptor(
                memory,
                index,
                RawDescriptor {
                    address,
                    length,
                    flags,
                    next,
                },
            );
        }
        self.next_descriptor = self.next_descriptor.wrapping_add(buffers.len() as u16);
        self.make_available(memory, head);
        head
    }

    /// Sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT.
    pub fn suppress_interrupts(&self, memory: &FakeGuestMemory, suppress: bool) {
        memory.write_u16(self.layout.available_ring.0, u16::from(suppress));
    }

    /// The used elements `(id, length)` published since the last call.
    pub fn take_used(&mut self, memory: &FakeGuestMemory) -> Vec<(u32, u32)> {
        let used_index = memory.read_u16(self.layout.used_ring.0 + 2);
        let mut elements = Vec::new();
        while self.used_seen != used_index {
            let slot = u64::from(self.used_seen % self.layout.size);
            let element = self.layout.used_ring.0 + 4 + 8 * slot;
            elements.push((memory.read_u32(element), memory.read_u32(element + 4)));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        elements
    }
}

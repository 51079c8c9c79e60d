//! The guest's memory that the device reads and writes: one static, page-aligned block holding
//! the three queues and the packet buffers, at fixed offsets. With the MMU off, addresses are
//! physical (guest IPAs) and every access is Device-nGnRnE, so each one goes to memory in
//! program order and must be naturally aligned; the helpers here only do such accesses and
//! ignore any outside the block.

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

/// Bytes in the block.
const SIZE: usize = 0x10000;
/// Each queue's page: descriptor table, then the available ring, then the used ring.
const QUEUE_STRIDE: usize = 0x1000;
pub const DESCRIPTOR_TABLE: usize = 0x000;
pub const AVAILABLE_RING: usize = 0x400;
pub const USED_RING: usize = 0x800;
/// Receive buffers, 0x2000 apart (each holds a whole packet, 44 + 4096 bytes).
const RECEIVE_BUFFERS: usize = 0x4000;
const RECEIVE_STRIDE: usize = 0x2000;
pub const RECEIVE_BUFFER_COUNT: usize = 4;
/// The one transmit buffer: a header and up to 8 KiB - 44 of payload.
const TRANSMIT_BUFFER: usize = 0xC000;
pub const TRANSMIT_BUFFER_SIZE: usize = 0x2000;

#[repr(C, align(4096))]
struct Block([u8; SIZE]);

static mut BLOCK: Block = Block([0; SIZE]);

/// The guest-physical address of offset `offset` in the block.
pub fn address(offset: usize) -> u64 {
    // The MMU is off: the address of the static is its physical (guest IPA) address.
    addr_of_mut!(BLOCK) as u64 + offset as u64
}

/// Offset of queue `queue`'s `area` (one of the area constants).
pub fn queue_area(queue: u16, area: usize) -> usize {
    usize::from(queue) * QUEUE_STRIDE + area
}

pub fn receive_buffer(index: usize) -> usize {
    RECEIVE_BUFFERS + index * RECEIVE_STRIDE
}

pub fn transmit_buffer() -> usize {
    TRANSMIT_BUFFER
}

/// Zeroes the queues' pages (a device reset forgets them; the driver starts afresh).
pub fn clear_queues() {
    for offset in (0..3 * QUEUE_STRIDE).step_by(8) {
        write_u64(offset, 0);
    }
}

/// A pointer to `width` bytes at `offset`, if they lie inside the block and are aligned.
fn at(offset: usize, width: usize) -> Option<*mut u8> {
    let end = offset.checked_add(width)?;
    if end > SIZE || !offset.is_multiple_of(width) {
        return None;
    }
    Some((addr_of_mut!(BLOCK) as *mut u8).wrapping_add(offset))
}

macro_rules! reader {
    ($read:ident, $type:ty) => {
        pub fn $read(offset: usize) -> $type {
            let Some(pointer) = at(offset, core::mem::size_of::<$type>()) else {
                return 0;
            };
            // SAFETY: an aligned value inside the block, which only this module and the device
            // touch; volatile because the device writes it behind the compiler's back.
            let value = unsafe { read_volatile(pointer as *const $type) };
            <$type>::from_le(value)
        }
    };
}

macro_rules! writer {
    ($write:ident, $type:ty) => {
        pub fn $write(offset: usize, value: $type) {
            if let Some(pointer) = at(offset, core::mem::size_of::<$type>()) {
                // SAFETY: as in the readers; the device reads it behind the compiler's back.
                unsafe { write_volatile(pointer as *mut $type, value.to_le()) };
            }
        }
    };
}

reader!(read_u8, u8);
reader!(read_u16, u16);
reader!(read_u32, u32);
writer!(write_u8, u8);
writer!(write_u16, u16);
writer!(write_u32, u32);
writer!(write_u64, u64);

/// Copies bytes from `offset` into `buffer`.
pub fn read_bytes(offset: usize, buffer: &mut [u8]) {
    for (index, byte) in buffer.iter_mut().enumerate() {
        *byte = read_u8(offset + index);
    }
}

/// Orders the accesses before against those after, for the device (DMB SY: the device is the
/// hypervisor on this or another CPU).
pub fn barrier() {
    // SAFETY: a barrier; no memory is changed.
    unsafe { core::arch::asm!("dmb sy", options(nostack, preserves_flags)) };
}

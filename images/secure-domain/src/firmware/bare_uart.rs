//! The console of the `bare-qemu` build: QEMU virt's PL011 at 0x0900_0000, polled (Arm DDI 0183G).
//! QEMU's firmware-less boot leaves it enabled, so only the data and flag registers are used.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// Where QEMU virt puts its first PL011 (and the device tree says so at `/pl011@9000000`).
pub const BASE: u64 = 0x0900_0000;
/// Bytes of its register frame, for the translation tables.
pub const SIZE: u64 = 0x1000;

register_bitfields! {
    u32,
    FLAGS [
        /// The transmit FIFO is full.
        TRANSMIT_FULL OFFSET(5) NUMBITS(1) []
    ]
}

register_structs! {
    Registers {
        (0x000 => data: ReadWrite<u32>),
        (0x004 => _reserved),
        (0x018 => flags: ReadOnly<u32, FLAGS::Register>),
        (0x01c => @END),
    }
}

/// Writes `bytes`, turning `\n` into `\r\n` for terminals.
pub fn write(bytes: &[u8]) {
    // SAFETY: QEMU virt has a PL011 at BASE, mapped as Device memory by `main` before the MMU is
    // enabled (and reachable with the MMU off); its data and flag registers are only accessed
    // through this type, one volatile access at a time.
    let registers = unsafe { &*(BASE as usize as *const Registers) };
    for &byte in bytes {
        if byte == b'\n' {
            put(registers, b'\r');
        }
        put(registers, byte);
    }
}

fn put(registers: &Registers, byte: u8) {
    while registers.flags.is_set(FLAGS::TRANSMIT_FULL) {
        core::hint::spin_loop();
    }
    registers.data.set(u32::from(byte));
}

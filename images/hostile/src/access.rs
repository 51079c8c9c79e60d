//! Single-instruction MMIO accesses of each width that may fault: the fault is caught
//! (`fault::attempt`) and reported with the value.

use core::arch::asm;

use crate::fault::{self, Outcome};

/// One access instruction; the register it loads is only returned, never trusted.
macro_rules! load {
    ($name:ident, $instruction:literal, $type:ty, $modifier:literal) => {
        pub fn $name(address: u64) -> ($type, Outcome) {
            fault::attempt(|| {
                let value: u64;
                // SAFETY: a device-register read that may fault; the vector table records the
                // fault and resumes after this one instruction. No Rust object is at `address`.
                unsafe {
                    asm!(concat!($instruction, " {value", $modifier, "}, [{address}]"),
                        address = in(reg) address, value = out(reg) value, options(nostack));
                }
                value as $type
            })
        }
    };
}

macro_rules! store {
    ($name:ident, $instruction:literal, $type:ty, $modifier:literal) => {
        pub fn $name(address: u64, value: $type) -> Outcome {
            fault::attempt(|| {
                // SAFETY: as for the loads: a device-register write that may fault, to an
                // address where no Rust object lives.
                unsafe {
                    asm!(concat!($instruction, " {value", $modifier, "}, [{address}]"),
                        address = in(reg) address, value = in(reg) u64::from(value), options(nostack));
                }
            })
            .1
        }
    };
}

load!(read8, "ldrb", u8, ":w");
load!(read16, "ldrh", u16, ":w");
load!(read32, "ldr", u32, ":w");
load!(read64, "ldr", u64, ":x");
store!(write8, "strb", u8, ":w");
store!(write32, "str", u32, ":w");
store!(write64, "str", u64, ":x");

/// A pair store (`stp`): its data abort carries no syndrome the hypervisor could emulate from.
pub fn write_pair32(address: u64, first: u32, second: u32) -> Outcome {
    fault::attempt(|| {
        // SAFETY: as for the stores above.
        unsafe {
            asm!("stp {first:w}, {second:w}, [{address}]", address = in(reg) address,
                first = in(reg) u64::from(first), second = in(reg) u64::from(second),
                options(nostack));
        }
    })
    .1
}

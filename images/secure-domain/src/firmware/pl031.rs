//! The Arm PrimeCell PL031 real-time clock (Arm DDI 0224C): seconds since the Unix epoch in its
//! data register.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    Registers {
        /// RTCDR: the current count, seconds.
        (0x000 => data: ReadOnly<u32>),
        /// RTCMR: match value.
        (0x004 => _match_value),
        /// RTCLR: load value.
        (0x008 => _load),
        /// RTCCR: bit 0 starts the counter (it cannot be stopped once started).
        (0x00c => control: ReadWrite<u32>),
        (0x010 => _reserved),
        /// RTCPeriphID0-3: part number 0x031 in bits [11:0] of the first two.
        (0xfe0 => peripheral_id: [ReadOnly<u32>; 4]),
        (0xff0 => @END),
    }
}

/// The PL031's part number (DDI 0224C 3.3.12).
const PART_NUMBER: u32 = 0x031;

/// A PL031 whose identification registers say it is one.
pub struct Pl031 {
    registers: &'static Registers,
}

impl Pl031 {
    /// The PL031 at `base`, if its peripheral ID matches.
    ///
    /// # Safety
    ///
    /// `base` must be the 4 KiB register frame of a PrimeCell device the domain owns (from the
    /// device tree), mapped as Device memory for the rest of the program, and no other code may
    /// drive it.
    pub unsafe fn probe(base: u64) -> Option<Self> {
        // SAFETY: the caller hands over a mapped PrimeCell frame for good; the register types
        // make every access a single volatile one.
        let registers = unsafe { &*(base as usize as *const Registers) };
        let part = (registers.peripheral_id[0].get() & 0xff)
            | (registers.peripheral_id[1].get() & 0xf) << 8;
        if part != PART_NUMBER {
            return None;
        }
        // Firmware normally started it; if not, start it (a PL031 counts from 0 then).
        if registers.control.get() & 1 == 0 {
            registers.control.set(1);
        }
        Some(Self { registers })
    }

    /// Seconds since 1970-01-01 00:00 UTC, as the RTC was set.
    pub fn seconds(&self) -> u32 {
        self.registers.data.get()
    }
}

//! An emulated PL011 UART (ARM PrimeCell UART, DDI0183): the console a domain sees at the real
//! console's address, while the real one is shared by everyone through the console multiplexer.
//!
//! Transmission is immediate: a byte written to DR is handed to the caller at once (for the
//! multiplexer), so the transmit FIFO is always empty (FR.TXFE set, TXFF and BUSY clear),
//! whatever CR says. Reception goes through a 32-byte FIFO that [`Pl011::receive`] fills with
//! the bytes the console's input router delivers.
//!
//! Interrupts are levels derived from the state, as Linux's amba-pl011 driver relies on:
//! TXRIS always (the FIFO is always at or below any level), RXRIS while the receive FIFO holds at
//! least the IFLS level, RTRIS while it holds anything (as if the timeout had passed), OERIS from
//! an overrun until cleared by ICR. Clearing TX, RX or RT through ICR has no lasting effect: the
//! condition still holds. Not modelled: loopback (CR.LBE), break, parity and framing errors,
//! IrDA, modem lines (all read as inactive), DMA (DMACR reads as zero).
//!
//! Accesses of 8, 16 or 32 bits at any offset aligned to their width are served (a narrower
//! access reads or writes part of the register; only one that covers DR's low byte moves data);
//! reserved offsets read as zero and ignore writes. 64-bit, unaligned or out-of-frame accesses
//! are refused, and the caller injects a fault.
#![forbid(unsafe_code)]

use core::fmt;

/// The size of the register frame.
pub const FRAME_SIZE: u64 = 0x1000;
/// Receive FIFO depth (PL011 r1p5, DDI0183G: 32 entries).
pub const RECEIVE_FIFO_DEPTH: usize = 32;

/// Register offsets (DDI0183 3.2, "Summary of registers").
mod register {
    pub const DR: u64 = 0x000;
    pub const RSR_ECR: u64 = 0x004;
    pub const FR: u64 = 0x018;
    pub const ILPR: u64 = 0x020;
    pub const IBRD: u64 = 0x024;
    pub const FBRD: u64 = 0x028;
    pub const LCR_H: u64 = 0x02C;
    pub const CR: u64 = 0x030;
    pub const IFLS: u64 = 0x034;
    pub const IMSC: u64 = 0x038;
    pub const RIS: u64 = 0x03C;
    pub const MIS: u64 = 0x040;
    pub const ICR: u64 = 0x044;
    pub const DMACR: u64 = 0x048;
    /// UARTPeriphID0..3, then UARTPCellID0..3.
    pub const IDENTIFICATION_FIRST: u64 = 0xFE0;
    pub const IDENTIFICATION_LAST: u64 = 0xFFC;
}

/// Flag register bits (DDI0183 3.3.3).
pub mod flag {
    pub const BUSY: u32 = 1 << 3;
    pub const RECEIVE_FIFO_EMPTY: u32 = 1 << 4;
    pub const TRANSMIT_FIFO_FULL: u32 = 1 << 5;
    pub const RECEIVE_FIFO_FULL: u32 = 1 << 6;
    pub const TRANSMIT_FIFO_EMPTY: u32 = 1 << 7;
}

/// Interrupt bits, the same in IMSC, RIS, MIS and ICR (DDI0183 3.3.10-14).
pub mod interrupt {
    pub const RECEIVE: u32 = 1 << 4;
    pub const TRANSMIT: u32 = 1 << 5;
    pub const RECEIVE_TIMEOUT: u32 = 1 << 6;
    pub const OVERRUN: u32 = 1 << 10;
    /// The implemented bits.
    pub const ALL: u32 = 0x7FF;
}

/// Control register bits (DDI0183 3.3.8).
pub mod control {
    pub const UART_ENABLE: u32 = 1 << 0;
    pub const TRANSMIT_ENABLE: u32 = 1 << 8;
    pub const RECEIVE_ENABLE: u32 = 1 << 9;
    /// The implemented bits (3..=6 are reserved).
    pub const ALL: u32 = 0xFF87;
}

/// LCR_H.FEN: FIFOs enabled; without it the receive "FIFO" holds one byte.
const LINE_CONTROL_FIFO_ENABLE: u32 = 1 << 4;
/// DR.OE: the byte that follows an overrun (DDI0183 3.3.1).
const DATA_OVERRUN: u16 = 1 << 11;
/// RSR.OE.
const RECEIVE_STATUS_OVERRUN: u32 = 1 << 3;
/// What CR holds at reset: the hypervisor's console is in use, so the UART is enabled, unlike
/// the TRM's 0x0300 (Linux's console setup reads the line settings only from an enabled UART).
const CONTROL_AT_RESET: u32 =
    control::UART_ENABLE | control::TRANSMIT_ENABLE | control::RECEIVE_ENABLE;
/// IFLS at reset: both levels at half (DDI0183 3.3.9).
const FIFO_LEVELS_AT_RESET: u32 = 0x12;

/// UARTPeriphID0..3 and UARTPCellID0..3, one byte each (DDI0183 3.3.15-16): part 0x011,
/// designer ARM (0x41), revision 3 (r1p5, whose FIFOs are 32 deep: Linux's driver takes 16 for
/// revisions below 3), and the PrimeCell ID 0xB105F00D that Linux's AMBA bus checks.
const IDENTIFICATION: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0D, 0xF0, 0x05, 0xB1];

/// An access the model refused; its state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pl011AccessError {
    /// Not an 8, 16 or 32-bit access.
    UnsupportedWidth { offset: u64, width: u8 },
    /// The offset is not a multiple of the width.
    Misaligned { offset: u64, width: u8 },
    /// Beyond the 4 KiB register frame.
    OutOfRange { offset: u64 },
}

impl fmt::Display for Pl011AccessError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnsupportedWidth { offset, width } => write!(
                formatter,
                "PL011 access of {width} bytes at offset {offset:#x}: only 1, 2 and 4 are served"
            ),
            Self::Misaligned { offset, width } => write!(
                formatter,
                "PL011 access of {width} bytes at unaligned offset {offset:#x}"
            ),
            Self::OutOfRange { offset } => write!(
                formatter,
                "PL011 access at offset {offset:#x}, beyond the 4 KiB register frame"
            ),
        }
    }
}

/// What a register write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteEffects {
    /// The byte the domain transmitted (a write to DR), for the console multiplexer.
    pub transmitted: Option<u8>,
    /// The interrupt line's level after the write.
    pub interrupt: bool,
}

/// What happened to a byte offered to the receive FIFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveOutcome {
    /// Queued; the interrupt line may have risen ([`Pl011::interrupt_level`]).
    Queued,
    /// The FIFO was full: the byte is lost, and the overrun is reported to the domain (RSR.OE,
    /// OERIS, DR.OE on the next byte that fits).
    Overrun,
    /// The UART or its receiver is disabled (CR.UARTEN or CR.RXE clear): the byte is dropped.
    ReceiverDisabled,
}

/// The register state of one emulated PL011.
#[derive(Clone, Debug)]
pub struct Pl011 {
    /// Received bytes with their DR error bits, oldest at `receive_head`.
    receive_fifo: [u16; RECEIVE_FIFO_DEPTH],
    receive_head: usize,
    receive_count: usize,
    /// An overrun happened: the next byte queued carries DR.OE.
    overrun_pending: bool,
    receive_status: u32,
    /// Interrupt status bits that stay until cleared by ICR (the overrun).
    latched_interrupts: u32,
    irda_low_power: u32,
    integer_baud: u32,
    fractional_baud: u32,
    line_control: u32,
    control: u32,
    fifo_levels: u32,
    interrupt_mask: u32,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

/// A checked access: the register it falls in, and where within it.
struct Access {
    register: u64,
    /// Bit position of the access within the 32-bit register.
    shift: u32,
    /// The access's bits, before shifting.
    mask: u32,
}

impl Access {
    fn check(offset: u64, width: u8) -> Result<Access, Pl011AccessError> {
        if !matches!(width, 1 | 2 | 4) {
            return Err(Pl011AccessError::UnsupportedWidth { offset, width });
        }
        if !offset.is_multiple_of(u64::from(width)) {
            return Err(Pl011AccessError::Misaligned { offset, width });
        }
        // Aligned, so the access ends inside the frame if it starts there.
        if offset >= FRAME_SIZE {
            return Err(Pl011AccessError::OutOfRange { offset });
        }
        Ok(Access {
            register: offset & !3,
            // `offset & 3` is below 4.
            shift: (offset & 3) as u32 * 8,
            mask: u32::MAX >> (32 - 8 * u32::from(width)),
        })
    }

    /// `value` written by this access into a register that held `old`.
    fn merge(&self, old: u32, value: u32) -> u32 {
        (old & !(self.mask << self.shift)) | ((value & self.mask) << self.shift)
    }
}

impl Pl011 {
    /// A PL011 as after reset (with the UART enabled, see [`CONTROL_AT_RESET`]).
    pub const fn new() -> Pl011 {
        Pl011 {
            receive_fifo: [0; RECEIVE_FIFO_DEPTH],
            receive_head: 0,
            receive_count: 0,
            overrun_pending: false,
            receive_status: 0,
            latched_interrupts: 0,
            irda_low_power: 0,
            integer_baud: 0,
            fractional_baud: 0,
            line_control: 0,
            control: CONTROL_AT_RESET,
            fifo_levels: FIFO_LEVELS_AT_RESET,
            interrupt_mask: 0,
        }
    }

    /// Emulates a `width`-byte read at `offset`.
    pub fn read(&mut self, offset: u64, width: u8) -> Result<u64, Pl011AccessError> {
        let access = Access::check(offset, width)?;
        let value = match access.register {
            // Only an access that covers the data byte takes it from the FIFO.
            register::DR if access.shift == 0 => self.take_received(),
            register::DR => self.oldest_received(),
            register::RSR_ECR => self.receive_status,
            register::FR => self.flags(),
            register::ILPR => self.irda_low_power,
            register::IBRD => self.integer_baud,
            register::FBRD => self.fractional_baud,
            register::LCR_H => self.line_control,
            register::CR => self.control,
            register::IFLS => self.fifo_levels,
            register::IMSC => self.interrupt_mask,
            register::RIS => self.raw_interrupts(),
            register::MIS => self.raw_interrupts() & self.interrupt_mask,
            register::IDENTIFICATION_FIRST..=register::IDENTIFICATION_LAST => {
                let index = (access.register - register::IDENTIFICATION_FIRST) / 4;
                IDENTIFICATION
                    .get(index as usize)
                    .map_or(0, |&byte| u32::from(byte))
            }
            // ICR is write-only; DMA is not modelled.
            register::ICR | register::DMACR => 0,
            // Reserved.
            _ => 0,
        };
        Ok(u64::from((value >> access.shift) & access.mask))
    }

    /// Emulates a `width`-byte write of `value` at `offset`.
    pub fn write(
        &mut self,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<WriteEffects, Pl011AccessError> {
        let access = Access::check(offset, width)?;
        // The access mask keeps at most 32 bits, so the cast loses nothing that is used.
        let value = (value & u64::from(access.mask)) as u32;
        let mut transmitted = None;
        match access.register {
            // The data byte is DR[7:0]; the cast keeps exactly it.
            register::DR if access.shift == 0 => transmitted = Some(value as u8),
            // Any write to ECR clears the receive errors (DDI0183 3.3.2).
            register::RSR_ECR => self.receive_status = 0,
            register::ILPR => self.irda_low_power = access.merge(self.irda_low_power, value) & 0xFF,
            register::IBRD => self.integer_baud = access.merge(self.integer_baud, value) & 0xFFFF,
            register::FBRD => {
                self.fractional_baud = access.merge(self.fractional_baud, value) & 0x3F
            }
            register::LCR_H => {
                let line_control = access.merge(self.line_control, value) & 0xFF;
                if (line_control ^ self.line_control) & LINE_CONTROL_FIFO_ENABLE != 0 {
                    // The FIFO changes depth: start it empty rather than with more bytes than
                    // the new depth holds.
                    self.receive_count = 0;
                }
                self.line_control = line_control;
            }
            register::CR => self.control = access.merge(self.control, value) & control::ALL,
            register::IFLS => self.fifo_levels = access.merge(self.fifo_levels, value) & 0x3F,
            register::IMSC => {
                self.interrupt_mask = access.merge(self.interrupt_mask, value) & interrupt::ALL
            }
            register::ICR => self.latched_interrupts &= !(value << access.shift),
            // DMA is not modelled: the domain's driver falls back to interrupts.
            register::DMACR => {}
            // DR's status bits, FR, RIS, MIS, the ID registers and reserved offsets.
            _ => {}
        }
        Ok(WriteEffects {
            transmitted,
            interrupt: self.interrupt_level(),
        })
    }

    /// Offers a byte typed on the console to the receive FIFO.
    pub fn receive(&mut self, byte: u8) -> ReceiveOutcome {
        let enabled = control::UART_ENABLE | control::RECEIVE_ENABLE;
        if self.control & enabled != enabled {
            return ReceiveOutcome::ReceiverDisabled;
        }
        if self.receive_count >= self.receive_capacity() {
            self.receive_status |= RECEIVE_STATUS_OVERRUN;
            self.latched_interrupts |= interrupt::OVERRUN;
            self.overrun_pending = true;
            return ReceiveOutcome::Overrun;
        }
        let overrun = if core::mem::take(&mut self.overrun_pending) {
            DATA_OVERRUN
        } else {
            0
        };
        let slot = (self.receive_head + self.receive_count) % RECEIVE_FIFO_DEPTH;
        self.receive_fifo[slot] = u16::from(byte) | overrun;
        self.receive_count += 1;
        ReceiveOutcome::Queued
    }

    /// The interrupt line's level: a masked interrupt is pending.
    pub fn interrupt_level(&self) -> bool {
        self.raw_interrupts() & self.interrupt_mask != 0
    }

    /// Returns to the state after reset (for a domain that restarts).
    pub fn reset(&mut self) {
        *self = Pl011::new();
    }

    /// The bytes the receive FIFO holds now: 32, or 1 with the FIFOs disabled (LCR_H.FEN).
    fn receive_capacity(&self) -> usize {
        if self.line_control & LINE_CONTROL_FIFO_ENABLE != 0 {
            RECEIVE_FIFO_DEPTH
        } else {
            1
        }
    }

    /// The receive FIFO level at which RXRIS rises (IFLS.RXIFLSEL, DDI0183 3.3.9).
    fn receive_interrupt_level(&self) -> usize {
        if self.line_control & LINE_CONTROL_FIFO_ENABLE == 0 {
            return 1;
        }
        let eighths = match (self.fifo_levels >> 3) & 0x7 {
            0 => 1,
            1 => 2,
            3 => 6,
            4 => 7,
            // 2 is half; 5..=7 are reserved, taken as half too.
            _ => 4,
        };
        RECEIVE_FIFO_DEPTH * eighths / 8
    }

    fn raw_interrupts(&self) -> u32 {
        let mut status = self.latched_interrupts | interrupt::TRANSMIT;
        if self.receive_count >= self.receive_interrupt_level() {
            status |= interrupt::RECEIVE;
        }
        if self.receive_count > 0 {
            status |= interrupt::RECEIVE_TIMEOUT;
        }
        status
    }

    fn flags(&self) -> u32 {
        let mut flags = flag::TRANSMIT_FIFO_EMPTY;
        if self.receive_count == 0 {
            flags |= flag::RECEIVE_FIFO_EMPTY;
        }
        if self.receive_count >= self.receive_capacity() {
            flags |= flag::RECEIVE_FIFO_FULL;
        }
        flags
    }

    /// The oldest received entry (data and error bits), left in the FIFO; 0 when empty.
    fn oldest_received(&self) -> u32 {
        if self.receive_count == 0 {
            return 0;
        }
        u32::from(self.receive_fifo[self.receive_head])
    }

    /// Takes the oldest received entry from the FIFO; 0 when empty.
    fn take_received(&mut self) -> u32 {
        let entry = self.oldest_received();
        if self.receive_count > 0 {
            self.receive_head = (self.receive_head + 1) % RECEIVE_FIFO_DEPTH;
            self.receive_count -= 1;
        }
        entry
    }
}

#[cfg(test)]
mod tests;

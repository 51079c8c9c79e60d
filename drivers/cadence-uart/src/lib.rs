//! Cadence UART (`cdns,uart-r1p8`, `cdns,uart-r1p12`, `xlnx,zynqmp-uart`): the PS UARTs of Xilinx
//! Zynq-7000 and Zynq UltraScale+ MPSoC (UG1087 register reference, UG1085 chapter 21).
//!
//! The same shape as the PL011 driver: polled output, optional receive interrupt, and
//! `hyp_arm_serial::SerialPort` (so `SerialIo` gives it embedded-io).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod registers;

use core::hint::spin_loop;

use hyp_arm_serial::SerialPort;

use registers::{CadenceUartRegisters, CR, FIFO, INTERRUPTS, MR, SR};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// The `compatible` strings of this UART (Linux's binding `cdns,uart.yaml`); a ZynqMP tree lists
/// "xlnx,zynqmp-uart", "cdns,uart-r1p12".
pub const COMPATIBLES: &[&str] = &[
    "xlnx,zynqmp-uart",
    "cdns,uart-r1p12",
    "cdns,uart-r1p8",
    "xlnx,xuartps",
];

/// How many polls a self-clearing FIFO reset gets before `init` goes on regardless: the reset
/// takes a few reference clock cycles, and a UART that never clears it is no reason to hang.
const RESET_POLLS: u32 = 10_000;

/// Every interrupt source of the UART.
const ALL_INTERRUPTS: u32 = (1 << 13) - 1;

/// A Cadence UART.
///
/// The driver polls, except that `enable_receive_interrupts` lets received bytes raise the
/// UART's interrupt. Output is raw bytes: a caller that wants `\r\n` writes them.
pub struct CadenceUart {
    registers: *const CadenceUartRegisters,
}

// SAFETY: `CadenceUart` holds only the address of a device that `new`'s caller handed over for
// good; using it from another CPU is no different from using it here.
unsafe impl Send for CadenceUart {}

// SAFETY: every method is a sequence of single-register volatile accesses that the device
// serialises. Concurrent callers can interleave their bytes, but cannot make an access touch
// anything but the UART.
unsafe impl Sync for CadenceUart {}

impl CadenceUart {
    /// Wraps the UART whose register frame starts at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a
    /// Cadence UART's register frame (0x4c bytes, in a 4 KiB page), mapped as Device memory for as
    /// long as the returned value (or anything derived from it) is used. No other code accesses
    /// that frame except through `CadenceUart` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const CadenceUartRegisters,
        }
    }

    fn registers(&self) -> &CadenceUartRegisters {
        // SAFETY: `new`'s caller guarantees that `registers` points to a mapped, aligned frame for
        // the lifetime of `self`, accessed only through the `UnsafeCell`-based register types.
        unsafe { &*self.registers }
    }
}

impl SerialPort for CadenceUart {
    /// Takes the UART over from the firmware: 8 data bits, no parity, 1 stop bit, normal mode,
    /// both FIFOs reset, transmitter and receiver on, every interrupt masked and cleared. The
    /// baud rate (BAUDGEN, BAUDDIV and MR.CLKSEL) stays as the firmware set it.
    fn init(&self) {
        let registers = self.registers();
        // Let the firmware's last characters out before the FIFO reset drops them.
        self.flush();
        registers.idr.set(ALL_INTERRUPTS);
        registers.isr.set(ALL_INTERRUPTS);
        registers
            .mr
            .modify(MR::CHRL::EightBits + MR::PAR::None + MR::NBSTOP::One + MR::CHMODE::Normal);
        registers.cr.write(CR::TXRST::SET + CR::RXRST::SET);
        for _ in 0..RESET_POLLS {
            if !registers.cr.is_set(CR::TXRST) && !registers.cr.is_set(CR::RXRST) {
                break;
            }
            spin_loop();
        }
        registers
            .cr
            .write(CR::RX_EN::SET + CR::TX_EN::SET + CR::RSTTO::SET + CR::STPBRK::SET);
    }

    /// Raises the UART's interrupt while received bytes wait: trigger level 1, so RTRIG is set
    /// as soon as one byte is in the receive FIFO. `try_read_byte` clears it once the FIFO is
    /// empty (the status bits are sticky until written with 1).
    fn enable_receive_interrupts(&self) {
        let registers = self.registers();
        registers.rxwm.set(1);
        registers.isr.write(INTERRUPTS::RTRIG::SET);
        registers.ier.write(INTERRUPTS::RTRIG::SET);
    }

    /// Queues one byte, waiting while the transmit FIFO is full.
    ///
    /// The wait has no limit: the FIFO drains at the line rate, and a UART that never drains
    /// leaves nothing better to do with the byte.
    fn write_byte(&self, byte: u8) {
        let registers = self.registers();
        while registers.sr.is_set(SR::TFUL) {
            spin_loop();
        }
        registers.fifo.write(FIFO::DATA.val(u32::from(byte)));
    }

    /// Takes one received byte, if there is one.
    ///
    /// When the FIFO is empty this also clears the sticky receive-trigger status, so that the
    /// interrupt `enable_receive_interrupts` asked for falls again; it clears before it looks, so
    /// a byte that arrives in between sets it anew.
    fn try_read_byte(&self) -> Option<u8> {
        let registers = self.registers();
        if registers.sr.is_set(SR::REMPTY) {
            registers
                .isr
                .write(INTERRUPTS::RTRIG::SET + INTERRUPTS::TIMEOUT::SET);
            if registers.sr.is_set(SR::REMPTY) {
                return None;
            }
        }
        Some(registers.fifo.read(FIFO::DATA) as u8)
    }

    /// Waits until every queued byte has left the transmitter.
    fn flush(&self) {
        let registers = self.registers();
        while !registers.sr.is_set(SR::TEMPTY) || registers.sr.is_set(SR::TACTIVE) {
            spin_loop();
        }
    }

    /// Whether a byte is waiting to be read.
    fn can_read(&self) -> bool {
        !self.registers().sr.is_set(SR::REMPTY)
    }

    /// Whether `write_byte` would return without waiting.
    fn can_write(&self) -> bool {
        !self.registers().sr.is_set(SR::TFUL)
    }
}

#[cfg(test)]
mod tests;

//! Arm PrimeCell PL011 UART (Arm PrimeCell UART (PL011) Technical Reference Manual, DDI 0183G).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod registers;

use core::hint::spin_loop;

use hyp_arm_serial::SerialPort;

use registers::{Pl011Registers, CR, DR, FR, INTERRUPTS, LCR_H};
use tock_registers::interfaces::{Readable, Writeable};

/// A PL011 UART.
///
/// The driver only polls: every interrupt stays masked. Output is raw bytes, so a caller that wants
/// `\r\n` line endings writes them.
pub struct Pl011 {
    registers: *const Pl011Registers,
}

// SAFETY: `Pl011` holds only the address of a device that `new`'s caller handed over for good; using it
// from another CPU is no different from using it here.
unsafe impl Send for Pl011 {}

// SAFETY: every method is a sequence of single-register volatile accesses that the device serialises.
// Concurrent callers can interleave their bytes, but cannot make an access touch anything but the UART.
unsafe impl Sync for Pl011 {}

impl Pl011 {
    /// Wraps the PL011 whose register frame starts at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a PL011's
    /// 4 KiB register frame, mapped as Device memory for as long as the returned value (or anything
    /// derived from it) is used. No other code accesses that frame except through `Pl011` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const Pl011Registers,
        }
    }

    fn registers(&self) -> &Pl011Registers {
        // SAFETY: `new`'s caller guarantees that `registers` points to a mapped, aligned PL011 frame
        // for the lifetime of `self`, accessed only through the `UnsafeCell`-based register types.
        unsafe { &*self.registers }
    }
}

impl SerialPort for Pl011 {
    /// Takes the UART over from the firmware: 8 data bits, no parity, 1 stop bit, FIFOs on, transmitter
    /// and receiver on, every interrupt masked. The baud rate divisors are left as the firmware set them.
    fn init(&self) {
        let registers = self.registers();
        // DDI 0183G 3.3.8 (UARTCR) gives the reprogramming order: let the current character finish, disable
        // the UART, flush the transmit FIFO by clearing FEN, reprogram, enable. Waiting for !BUSY first
        // also keeps the firmware's last message from being cut off.
        self.flush();
        registers.cr.set(0);
        registers.lcr_h.write(LCR_H::FEN::CLEAR);
        registers.imsc.set(0);
        registers.icr.write(
            INTERRUPTS::RIM::SET
                + INTERRUPTS::CTSM::SET
                + INTERRUPTS::DCDM::SET
                + INTERRUPTS::DSRM::SET
                + INTERRUPTS::RX::SET
                + INTERRUPTS::TX::SET
                + INTERRUPTS::RT::SET
                + INTERRUPTS::FE::SET
                + INTERRUPTS::PE::SET
                + INTERRUPTS::BE::SET
                + INTERRUPTS::OE::SET,
        );
        registers.dmacr.set(0);
        // Writing UARTLCR_H also latches UARTIBRD/UARTFBRD (DDI 0183G 3.3.7), so the firmware's divisors
        // stay in force.
        registers
            .lcr_h
            .write(LCR_H::WLEN::EightBits + LCR_H::FEN::SET);
        registers
            .cr
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Raises the UART's interrupt while received bytes wait (receive and receive-timeout
    /// interrupts, DDI 0183G 3.3.10): the hypervisor then reads its console input on interrupt
    /// instead of polling.
    fn enable_receive_interrupts(&self) {
        self.registers()
            .imsc
            .write(INTERRUPTS::RX::SET + INTERRUPTS::RT::SET);
    }

    /// Queues one byte, waiting while the transmit FIFO is full.
    ///
    /// The wait has no limit: the FIFO drains at the line rate, and a UART that never drains leaves
    /// nothing better to do with the byte.
    fn write_byte(&self, byte: u8) {
        let registers = self.registers();
        while registers.fr.is_set(FR::TXFF) {
            spin_loop();
        }
        registers.dr.write(DR::DATA.val(u32::from(byte)));
    }

    /// Takes one received byte, if there is one.
    ///
    /// A byte that arrived damaged (framing or parity error, or a break, DDI 0183G 3.3.1) is dropped and
    /// `None` returned; an overrun only means an earlier byte was lost, so this one is kept.
    fn try_read_byte(&self) -> Option<u8> {
        let registers = self.registers();
        if registers.fr.is_set(FR::RXFE) {
            return None;
        }
        // One read of UARTDR pops the character and its error flags together.
        let data = registers.dr.extract();
        if data.is_set(DR::FE) || data.is_set(DR::PE) || data.is_set(DR::BE) {
            return None;
        }
        Some(data.read(DR::DATA) as u8)
    }

    /// Waits until every queued byte has left the transmitter.
    fn flush(&self) {
        while self.registers().fr.is_set(FR::BUSY) {
            spin_loop();
        }
    }

    /// Whether a byte is waiting to be read.
    fn can_read(&self) -> bool {
        !self.registers().fr.is_set(FR::RXFE)
    }

    /// Whether `write_byte` would return without waiting.
    fn can_write(&self) -> bool {
        !self.registers().fr.is_set(FR::TXFF)
    }
}

#[cfg(test)]
mod tests;

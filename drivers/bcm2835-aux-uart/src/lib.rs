//! The Broadcom BCM2835/BCM2711 mini UART (`brcm,bcm2835-aux-uart`, UART1 of the AUX block), the
//! Raspberry Pi's default console on GPIO 14/15 (BCM2711 ARM Peripherals, section 2.2).
//!
//! Its baud rate is derived from the VPU core clock, which the Pi firmware pins when config.txt
//! says `enable_uart=1`; the driver keeps the firmware's divisor and never touches the AUX block's
//! enable register (another node's page).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod registers;

use core::hint::spin_loop;

use hyp_arm_serial::SerialPort;

use registers::{MiniUartRegisters, CNTL, IER, IIR, IO, LCR, LSR};
use tock_registers::interfaces::{Readable, Writeable};

/// A mini UART. Output is raw bytes; a caller that wants `\r\n` line endings writes them.
pub struct MiniUart {
    registers: *const MiniUartRegisters,
}

// SAFETY: `MiniUart` holds only the address of a device that `new`'s caller handed over for good;
// using it from another CPU is no different from using it here.
unsafe impl Send for MiniUart {}

// SAFETY: every method is a sequence of single-register volatile accesses that the device
// serialises. Concurrent callers can interleave their bytes, but touch nothing but the UART.
unsafe impl Sync for MiniUart {}

impl MiniUart {
    /// Wraps the mini UART whose registers start (AUX_MU_IO_REG) at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a mini
    /// UART's registers, mapped as Device memory for as long as the returned value (or anything
    /// derived from it) is used. No other code accesses them except through `MiniUart` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const MiniUartRegisters,
        }
    }

    fn registers(&self) -> &MiniUartRegisters {
        // SAFETY: `new`'s caller guarantees that `registers` points to the mapped, aligned mini
        // UART for the lifetime of `self`, accessed only through the `UnsafeCell` register types.
        unsafe { &*self.registers }
    }
}

impl SerialPort for MiniUart {
    /// Takes the UART over from the firmware: 8 data bits, no flow control, FIFOs cleared,
    /// receiver and transmitter on, interrupts off. The baud divisor stays as the firmware set it.
    fn init(&self) {
        let registers = self.registers();
        // Let the firmware's last message leave before the transmitter is turned off.
        self.flush();
        registers.cntl.set(0);
        registers.ier.set(0);
        registers.lcr.write(LCR::DATA_SIZE::EightBits);
        registers.mcr.set(0);
        registers
            .iir
            .write(IIR::CLEAR_RECEIVE_FIFO::SET + IIR::CLEAR_TRANSMIT_FIFO::SET);
        registers
            .cntl
            .write(CNTL::RECEIVER_ENABLE::SET + CNTL::TRANSMITTER_ENABLE::SET);
    }

    /// Raises the AUX interrupt while received bytes wait, so that console input is read on
    /// interrupt. Line-status interrupts come with it, as Linux's 8250 driver enables them.
    fn enable_receive_interrupts(&self) {
        self.registers()
            .ier
            .write(IER::RECEIVE::SET + IER::LINE_STATUS::SET);
    }

    /// Queues one byte, waiting while the transmit FIFO is full (it drains at the line rate).
    fn write_byte(&self, byte: u8) {
        let registers = self.registers();
        while !registers.lsr.is_set(LSR::TRANSMITTER_EMPTY) {
            spin_loop();
        }
        registers.io.write(IO::DATA.val(u32::from(byte)));
    }

    /// Takes one received byte, if there is one. The mini UART reports no framing or parity
    /// errors; an overrun only means an earlier byte was lost, so this one is kept.
    fn try_read_byte(&self) -> Option<u8> {
        let registers = self.registers();
        if !registers.lsr.is_set(LSR::DATA_READY) {
            return None;
        }
        Some(registers.io.read(IO::DATA) as u8)
    }

    /// Waits until every queued byte has left the transmitter.
    fn flush(&self) {
        while !self.registers().lsr.is_set(LSR::TRANSMITTER_IDLE) {
            spin_loop();
        }
    }

    /// Whether a byte is waiting to be read.
    fn can_read(&self) -> bool {
        self.registers().lsr.is_set(LSR::DATA_READY)
    }

    /// Whether `write_byte` would return without waiting.
    fn can_write(&self) -> bool {
        self.registers().lsr.is_set(LSR::TRANSMITTER_EMPTY)
    }
}

#[cfg(test)]
mod tests;

//! The mini UART's register map and fields (BCM2711 ARM Peripherals, section 2.2.2; the same as
//! the BCM2835's, section 2.2.2). Offsets are from AUX_MU_IO_REG, where the device tree's `reg`
//! for `brcm,bcm2835-aux-uart` starts (the AUX block's interrupt status and enables sit 0x40
//! below, in the page the `brcm,bcm2835-aux` node owns).

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! {u32,
    /// AUX_MU_IO_REG: one byte in or out of the FIFOs (while DLAB is clear).
    pub IO [
        DATA OFFSET(0) NUMBITS(8) [],
    ],
    /// AUX_MU_IER_REG: interrupt enables. The BCM2835 datasheet swaps bits 0 and 1 (its published
    /// errata); they follow the 16550 as Linux's 8250 driver uses them: bit 0 receive, bit 1
    /// transmit, bit 2 receiver line status.
    pub IER [
        RECEIVE OFFSET(0) NUMBITS(1) [],
        TRANSMIT OFFSET(1) NUMBITS(1) [],
        LINE_STATUS OFFSET(2) NUMBITS(1) [],
    ],
    /// AUX_MU_IIR_REG: reads the pending interrupt; writing 1s clears the FIFOs.
    pub IIR [
        /// Clear on read: no interrupt pending.
        NOT_PENDING OFFSET(0) NUMBITS(1) [],
        CLEAR_RECEIVE_FIFO OFFSET(1) NUMBITS(1) [],
        CLEAR_TRANSMIT_FIFO OFFSET(2) NUMBITS(1) [],
    ],
    /// AUX_MU_LCR_REG: line control. The datasheet documents bit 0 alone for 8-bit mode, but the
    /// part needs both bits 1:0 set (errata), hence the two-bit field.
    pub LCR [
        DATA_SIZE OFFSET(0) NUMBITS(2) [
            SevenBits = 0,
            EightBits = 3
        ],
        BREAK OFFSET(6) NUMBITS(1) [],
        DLAB OFFSET(7) NUMBITS(1) [],
    ],
    /// AUX_MU_LSR_REG: line status.
    pub LSR [
        DATA_READY OFFSET(0) NUMBITS(1) [],
        RECEIVER_OVERRUN OFFSET(1) NUMBITS(1) [],
        /// The transmit FIFO can take at least one byte.
        TRANSMITTER_EMPTY OFFSET(5) NUMBITS(1) [],
        /// The transmit FIFO is empty and the last bit has left.
        TRANSMITTER_IDLE OFFSET(6) NUMBITS(1) [],
    ],
    /// AUX_MU_CNTL_REG: receiver and transmitter enables, flow control (off).
    pub CNTL [
        RECEIVER_ENABLE OFFSET(0) NUMBITS(1) [],
        TRANSMITTER_ENABLE OFFSET(1) NUMBITS(1) [],
        RTS_FLOW OFFSET(2) NUMBITS(1) [],
        CTS_FLOW OFFSET(3) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The mini UART's registers, from AUX_MU_IO_REG (0x7e21_5040 on the VideoCore bus).
    pub MiniUartRegisters {
        (0x00 => pub io: ReadWrite<u32, IO::Register>),
        (0x04 => pub ier: ReadWrite<u32, IER::Register>),
        (0x08 => pub iir: ReadWrite<u32, IIR::Register>),
        (0x0c => pub lcr: ReadWrite<u32, LCR::Register>),
        (0x10 => pub mcr: ReadWrite<u32>),
        (0x14 => pub lsr: ReadOnly<u32, LSR::Register>),
        (0x18 => pub msr: ReadOnly<u32>),
        (0x1c => pub scratch: ReadWrite<u32>),
        (0x20 => pub cntl: ReadWrite<u32, CNTL::Register>),
        (0x24 => pub stat: ReadOnly<u32>),
        /// 16-bit divisor: baud = system clock / (8 * (BAUD + 1)); the firmware sets it.
        (0x28 => pub baud: ReadWrite<u32>),
        (0x2c => @END),
    }
}

/// Bytes of the register frame the driver touches (the device tree's `reg` is 0x40).
pub const FRAME_SIZE: usize = 0x2c;
const _: () = assert!(core::mem::size_of::<MiniUartRegisters>() == FRAME_SIZE);

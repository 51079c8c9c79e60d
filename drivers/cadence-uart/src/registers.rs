//! The Cadence UART register map and fields (Zynq UltraScale+ Device Register Reference UG1087,
//! module UART; the same IP, `cdns,uart-r1p12`, as Zynq-7000's UG585 appendix B.33).

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Control_reg0: resets and enables. A disable bit wins over its enable bit.
    pub CR [
        /// Receive path reset (FIFO and logic); self-clearing.
        RXRST OFFSET(0) NUMBITS(1) [],
        /// Transmit path reset; self-clearing.
        TXRST OFFSET(1) NUMBITS(1) [],
        RX_EN OFFSET(2) NUMBITS(1) [],
        RX_DIS OFFSET(3) NUMBITS(1) [],
        TX_EN OFFSET(4) NUMBITS(1) [],
        TX_DIS OFFSET(5) NUMBITS(1) [],
        /// Restart the receiver timeout counter.
        RSTTO OFFSET(6) NUMBITS(1) [],
        STTBRK OFFSET(7) NUMBITS(1) [],
        STPBRK OFFSET(8) NUMBITS(1) [],
    ],
    /// mode_reg0: character format and channel mode.
    pub MR [
        /// Reference clock divided by 8 first.
        CLKSEL OFFSET(0) NUMBITS(1) [],
        CHRL OFFSET(1) NUMBITS(2) [
            EightBits = 0b00,
            SevenBits = 0b10,
            SixBits = 0b11,
        ],
        PAR OFFSET(3) NUMBITS(3) [
            Even = 0b000,
            Odd = 0b001,
            Space = 0b010,
            Mark = 0b011,
            None = 0b100,
        ],
        NBSTOP OFFSET(6) NUMBITS(2) [
            One = 0b00,
            OneAndHalf = 0b01,
            Two = 0b10,
        ],
        CHMODE OFFSET(8) NUMBITS(2) [
            Normal = 0b00,
            AutomaticEcho = 0b01,
            LocalLoopback = 0b10,
            RemoteLoopback = 0b11,
        ],
    ],
    /// The interrupt bits of Intrpt_en_reg0, Intrpt_dis_reg0, Intrpt_mask_reg0 and
    /// Chnl_int_sts_reg0 (write 1 to clear).
    pub INTERRUPTS [
        /// The receive FIFO holds at least the trigger level (Rcvr_FIFO_trigger_level0).
        RTRIG OFFSET(0) NUMBITS(1) [],
        REMPTY OFFSET(1) NUMBITS(1) [],
        RFUL OFFSET(2) NUMBITS(1) [],
        TEMPTY OFFSET(3) NUMBITS(1) [],
        TFUL OFFSET(4) NUMBITS(1) [],
        ROVR OFFSET(5) NUMBITS(1) [],
        FRAME OFFSET(6) NUMBITS(1) [],
        PARE OFFSET(7) NUMBITS(1) [],
        /// No character received for the receiver timeout.
        TIMEOUT OFFSET(8) NUMBITS(1) [],
        DMSI OFFSET(9) NUMBITS(1) [],
        TTRIG OFFSET(10) NUMBITS(1) [],
        TNFUL OFFSET(11) NUMBITS(1) [],
        TOVR OFFSET(12) NUMBITS(1) [],
    ],
    /// Channel_sts_reg0: the FIFOs and the line, as they are now.
    pub SR [
        RTRIG OFFSET(0) NUMBITS(1) [],
        /// The receive FIFO is empty.
        REMPTY OFFSET(1) NUMBITS(1) [],
        RFUL OFFSET(2) NUMBITS(1) [],
        /// The transmit FIFO is empty (the last character may still be on the line: TACTIVE).
        TEMPTY OFFSET(3) NUMBITS(1) [],
        /// The transmit FIFO is full.
        TFUL OFFSET(4) NUMBITS(1) [],
        RACTIVE OFFSET(10) NUMBITS(1) [],
        /// The transmitter is sending a character.
        TACTIVE OFFSET(11) NUMBITS(1) [],
        FDELT OFFSET(12) NUMBITS(1) [],
        TTRIG OFFSET(13) NUMBITS(1) [],
        TNFUL OFFSET(14) NUMBITS(1) [],
    ],
    /// TX_RX_FIFO0: one character per access.
    pub FIFO [
        DATA OFFSET(0) NUMBITS(8) [],
    ],
}

register_structs! {
    /// The Cadence UART's registers (UG1087, UART module: 0x00..0x48).
    pub CadenceUartRegisters {
        (0x00 => pub cr: ReadWrite<u32, CR::Register>),
        (0x04 => pub mr: ReadWrite<u32, MR::Register>),
        (0x08 => pub ier: WriteOnly<u32, INTERRUPTS::Register>),
        (0x0c => pub idr: WriteOnly<u32, INTERRUPTS::Register>),
        (0x10 => pub imr: ReadOnly<u32, INTERRUPTS::Register>),
        (0x14 => pub isr: ReadWrite<u32, INTERRUPTS::Register>),
        (0x18 => pub baudgen: ReadWrite<u32>),
        (0x1c => pub rxtout: ReadWrite<u32>),
        (0x20 => pub rxwm: ReadWrite<u32>),
        (0x24 => pub modemcr: ReadWrite<u32>),
        (0x28 => pub modemsr: ReadWrite<u32>),
        (0x2c => pub sr: ReadOnly<u32, SR::Register>),
        (0x30 => pub fifo: ReadWrite<u32, FIFO::Register>),
        (0x34 => pub bauddiv: ReadWrite<u32>),
        (0x38 => pub flowdel: ReadWrite<u32>),
        (0x3c => _reserved0),
        (0x44 => pub txwm: ReadWrite<u32>),
        (0x48 => pub rx_fifo_byte_status: ReadOnly<u32>),
        (0x4c => @END),
    }
}

const _: () = assert!(size_of::<CadenceUartRegisters>() == 0x4c);

#[cfg(test)]
mod tests {
    use super::CadenceUartRegisters;
    use core::mem::offset_of;

    #[test]
    fn offsets_match_ug1087() {
        assert_eq!(offset_of!(CadenceUartRegisters, cr), 0x00);
        assert_eq!(offset_of!(CadenceUartRegisters, mr), 0x04);
        assert_eq!(offset_of!(CadenceUartRegisters, ier), 0x08);
        assert_eq!(offset_of!(CadenceUartRegisters, idr), 0x0c);
        assert_eq!(offset_of!(CadenceUartRegisters, isr), 0x14);
        assert_eq!(offset_of!(CadenceUartRegisters, baudgen), 0x18);
        assert_eq!(offset_of!(CadenceUartRegisters, rxtout), 0x1c);
        assert_eq!(offset_of!(CadenceUartRegisters, rxwm), 0x20);
        assert_eq!(offset_of!(CadenceUartRegisters, sr), 0x2c);
        assert_eq!(offset_of!(CadenceUartRegisters, fifo), 0x30);
        assert_eq!(offset_of!(CadenceUartRegisters, bauddiv), 0x34);
        assert_eq!(offset_of!(CadenceUartRegisters, txwm), 0x44);
    }
}

//! The PL011 register map and fields (Arm PrimeCell UART (PL011) TRM, DDI 0183G, 3.2 and 3.3).

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// UARTDR, data register (DDI 0183G 3.3.1): received characters carry their error flags.
    pub DR [
        DATA OFFSET(0) NUMBITS(8) [],
        /// Framing error: no valid stop bit.
        FE OFFSET(8) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(9) NUMBITS(1) [],
        /// Break: the line was held low for longer than a full character.
        BE OFFSET(10) NUMBITS(1) [],
        /// Overrun: this character is valid, an earlier one was lost.
        OE OFFSET(11) NUMBITS(1) [],
    ],
    /// UARTFR, flag register (DDI 0183G 3.3.3).
    pub FR [
        CTS OFFSET(0) NUMBITS(1) [],
        DSR OFFSET(1) NUMBITS(1) [],
        DCD OFFSET(2) NUMBITS(1) [],
        /// Transmitting: set until the last bit of the last character, FIFO included, has left.
        BUSY OFFSET(3) NUMBITS(1) [],
        RXFE OFFSET(4) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFF OFFSET(6) NUMBITS(1) [],
        TXFE OFFSET(7) NUMBITS(1) [],
        RI OFFSET(8) NUMBITS(1) [],
    ],
    /// UARTLCR_H, line control register (DDI 0183G 3.3.7).
    pub LCR_H [
        BRK OFFSET(0) NUMBITS(1) [],
        PEN OFFSET(1) NUMBITS(1) [],
        EPS OFFSET(2) NUMBITS(1) [],
        STP2 OFFSET(3) NUMBITS(1) [],
        FEN OFFSET(4) NUMBITS(1) [],
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBits = 0b00,
            SixBits = 0b01,
            SevenBits = 0b10,
            EightBits = 0b11,
        ],
        SPS OFFSET(7) NUMBITS(1) [],
    ],
    /// UARTCR, control register (DDI 0183G 3.3.8).
    pub CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        SIREN OFFSET(1) NUMBITS(1) [],
        SIRLP OFFSET(2) NUMBITS(1) [],
        LBE OFFSET(7) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) [],
        DTR OFFSET(10) NUMBITS(1) [],
        RTS OFFSET(11) NUMBITS(1) [],
        OUT1 OFFSET(12) NUMBITS(1) [],
        OUT2 OFFSET(13) NUMBITS(1) [],
        RTSEN OFFSET(14) NUMBITS(1) [],
        CTSEN OFFSET(15) NUMBITS(1) [],
    ],
    /// The interrupt bits shared by UARTIMSC, UARTRIS, UARTMIS and UARTICR (DDI 0183G 3.3.10-3.3.13).
    pub INTERRUPTS [
        RIM OFFSET(0) NUMBITS(1) [],
        CTSM OFFSET(1) NUMBITS(1) [],
        DCDM OFFSET(2) NUMBITS(1) [],
        DSRM OFFSET(3) NUMBITS(1) [],
        RX OFFSET(4) NUMBITS(1) [],
        TX OFFSET(5) NUMBITS(1) [],
        RT OFFSET(6) NUMBITS(1) [],
        FE OFFSET(7) NUMBITS(1) [],
        PE OFFSET(8) NUMBITS(1) [],
        BE OFFSET(9) NUMBITS(1) [],
        OE OFFSET(10) NUMBITS(1) [],
    ],
    /// UARTDMACR, DMA control register (DDI 0183G 3.3.14).
    pub DMACR [
        RXDMAE OFFSET(0) NUMBITS(1) [],
        TXDMAE OFFSET(1) NUMBITS(1) [],
        DMAONERR OFFSET(2) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The PL011's 4 KiB register frame (DDI 0183G table 3-1).
    pub Pl011Registers {
        (0x000 => pub dr: ReadWrite<u32, DR::Register>),
        /// UARTRSR on read, UARTECR on write.
        (0x004 => pub rsr_ecr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => pub fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x020 => pub ilpr: ReadWrite<u32>),
        (0x024 => pub ibrd: ReadWrite<u32>),
        (0x028 => pub fbrd: ReadWrite<u32>),
        (0x02c => pub lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => pub cr: ReadWrite<u32, CR::Register>),
        (0x034 => pub ifls: ReadWrite<u32>),
        (0x038 => pub imsc: ReadWrite<u32, INTERRUPTS::Register>),
        (0x03c => pub ris: ReadOnly<u32, INTERRUPTS::Register>),
        (0x040 => pub mis: ReadOnly<u32, INTERRUPTS::Register>),
        (0x044 => pub icr: WriteOnly<u32, INTERRUPTS::Register>),
        (0x048 => pub dmacr: ReadWrite<u32, DMACR::Register>),
        (0x04c => _reserved2),
        (0xfe0 => pub periph_id: [ReadOnly<u32>; 4]),
        (0xff0 => pub pcell_id: [ReadOnly<u32>; 4]),
        (0x1000 => @END),
    }
}

const _: () = assert!(size_of::<Pl011Registers>() == 0x1000);

#[cfg(test)]
mod tests {
    use super::Pl011Registers;
    use core::mem::offset_of;

    #[test]
    fn offsets_match_ddi_0183_table_3_1() {
        assert_eq!(offset_of!(Pl011Registers, dr), 0x000);
        assert_eq!(offset_of!(Pl011Registers, fr), 0x018);
        assert_eq!(offset_of!(Pl011Registers, ibrd), 0x024);
        assert_eq!(offset_of!(Pl011Registers, fbrd), 0x028);
        assert_eq!(offset_of!(Pl011Registers, lcr_h), 0x02c);
        assert_eq!(offset_of!(Pl011Registers, cr), 0x030);
        assert_eq!(offset_of!(Pl011Registers, imsc), 0x038);
        assert_eq!(offset_of!(Pl011Registers, icr), 0x044);
        assert_eq!(offset_of!(Pl011Registers, dmacr), 0x048);
        assert_eq!(offset_of!(Pl011Registers, periph_id), 0xfe0);
    }
}

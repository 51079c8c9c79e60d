//! Tests of the PL011 model, replaying what Linux's AMBA bus and amba-pl011 driver do (16-bit
//! register accesses by default, as the driver's `UPIO_MEM` port uses), and hostile accesses.

use super::*;

// Linux's names for the bits it uses (include/linux/amba/serial.h), as values.
const CR_UARTEN: u64 = 0x0001;
const CR_TXE: u64 = 0x0100;
const CR_RXE: u64 = 0x0200;
const CR_DTR: u64 = 0x0400;
const CR_RTS: u64 = 0x0800;
const IM_RX: u64 = 0x010;
const IM_TX: u64 = 0x020;
const IM_RT: u64 = 0x040;
const IM_ERRORS: u64 = 0x780; // FE, PE, BE, OE
const LCRH_FEN: u64 = 0x10;
const LCRH_WLEN_8: u64 = 0x60;
const IFLS_RX4_8_TX4_8: u64 = 0x12;

fn read16(uart: &mut Pl011, offset: u64) -> u64 {
    uart.read(offset, 2).unwrap()
}

fn write16(uart: &mut Pl011, offset: u64, value: u64) -> WriteEffects {
    uart.write(offset, 2, value).unwrap()
}

/// The AMBA bus's identification read: the low byte of the four 32-bit words at 0xFE0 (periph
/// ID) and 0xFF0 (cell ID).
fn amba_identification(uart: &mut Pl011) -> (u32, u32) {
    let mut periph = 0;
    let mut cell = 0;
    for index in 0..4u64 {
        periph |= (uart.read(0xFE0 + 4 * index, 4).unwrap() as u32 & 0xFF) << (8 * index);
        cell |= (uart.read(0xFF0 + 4 * index, 4).unwrap() as u32 & 0xFF) << (8 * index);
    }
    (periph, cell)
}

/// Probe (port registration: mask and clear everything), startup (hwinit, IFLS, CR, enabling
/// RX interrupts after draining the FIFO) and set_termios for 115200 8N1 with FIFOs.
fn linux_probe_and_startup(uart: &mut Pl011) {
    write16(uart, 0x38, 0);
    write16(uart, 0x44, 0xFFFF);
    // pl011_hwinit
    write16(uart, 0x44, IM_ERRORS | IM_RT | IM_RX);
    let _saved_mask = read16(uart, 0x38);
    write16(uart, 0x38, IM_RT | IM_RX);
    // pl011_allocate_irq writes the saved mask; then the FIFO levels.
    write16(uart, 0x38, 0);
    write16(uart, 0x34, IFLS_RX4_8_TX4_8);
    let control = read16(uart, 0x30) & (CR_RTS | CR_DTR);
    write16(uart, 0x30, control | CR_UARTEN | CR_RXE | CR_TXE);
    let _modem_status = read16(uart, 0x18);
    // pl011_enable_interrupts: clear, drain, unmask.
    write16(uart, 0x44, IM_RT | IM_RX);
    for _ in 0..64 {
        if read16(uart, 0x18) & u64::from(flag::RECEIVE_FIFO_EMPTY) != 0 {
            break;
        }
        read16(uart, 0x00);
    }
    let effects = write16(uart, 0x38, IM_RT | IM_RX);
    assert!(!effects.interrupt, "nothing received yet");
    // pl011_set_termios: 24 MHz clock, 115200 baud -> divisor 13 + 1/64ths.
    write16(uart, 0x28, 1);
    write16(uart, 0x24, 13);
    write16(uart, 0x2C, LCRH_WLEN_8 | LCRH_FEN);
    let control = read16(uart, 0x30);
    write16(uart, 0x30, control | CR_RXE);
}

/// Linux's interrupt handler: returns the bytes it read and whether it ran the TX path.
fn linux_interrupt(uart: &mut Pl011, mask: u64, received: &mut Vec<u16>) -> bool {
    let mut transmit_path = false;
    let mut status = read16(uart, 0x3C) & mask;
    while status != 0 {
        write16(uart, 0x44, status & !(IM_TX | IM_RT | IM_RX));
        if status & (IM_RT | IM_RX) != 0 {
            while read16(uart, 0x18) & u64::from(flag::RECEIVE_FIFO_EMPTY) == 0 {
                received.push(read16(uart, 0x00) as u16);
            }
        }
        if status & IM_TX != 0 {
            transmit_path = true;
            // Nothing left to send: pl011_stop_tx masks TX.
            write16(uart, 0x38, mask & !IM_TX);
            return transmit_path;
        }
        status = read16(uart, 0x3C) & mask;
    }
    transmit_path
}

#[test]
fn the_amba_bus_identifies_a_pl011() {
    let mut uart = Pl011::new();
    let (periph, cell) = amba_identification(&mut uart);
    assert_eq!(
        periph & 0x000F_FFFF,
        0x0004_1011,
        "Linux's pl011 id under its mask"
    );
    assert_eq!(periph >> 20 & 0xF, 3, "revision 3: 32-byte FIFOs");
    assert_eq!(cell, 0xB105_F00D);
}

#[test]
fn startup_leaves_the_uart_enabled_quiet_and_configured() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    assert_eq!(read16(&mut uart, 0x30), CR_UARTEN | CR_TXE | CR_RXE);
    assert_eq!(read16(&mut uart, 0x2C), LCRH_WLEN_8 | LCRH_FEN);
    assert_eq!(read16(&mut uart, 0x24), 13);
    assert_eq!(read16(&mut uart, 0x28), 1);
    assert_eq!(read16(&mut uart, 0x34), IFLS_RX4_8_TX4_8);
    assert_eq!(read16(&mut uart, 0x38), IM_RT | IM_RX);
    assert_eq!(read16(&mut uart, 0x40), 0, "no masked interrupt pending");
    assert!(!uart.interrupt_level());
    let flags = read16(&mut uart, 0x18) as u32;
    assert_eq!(
        flags,
        flag::TRANSMIT_FIFO_EMPTY | flag::RECEIVE_FIFO_EMPTY,
        "not busy, TX never full"
    );
}

#[test]
fn console_write_transmits_each_byte_at_once() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    // pl011_console_write: enable TX, put each character after checking TXFF, wait for BUSY
    // to clear, restore CR.
    let old_control = read16(&mut uart, 0x30);
    write16(&mut uart, 0x30, old_control | CR_UARTEN | CR_TXE);
    let mut sent = Vec::new();
    for &byte in b"Linux version 6.1\r\n" {
        assert_eq!(
            read16(&mut uart, 0x18) & u64::from(flag::TRANSMIT_FIFO_FULL),
            0
        );
        let effects = write16(&mut uart, 0x00, u64::from(byte));
        sent.extend(effects.transmitted);
        assert!(!effects.interrupt, "TX is masked: no interrupt");
    }
    assert_eq!(read16(&mut uart, 0x18) & u64::from(flag::BUSY), 0);
    write16(&mut uart, 0x30, old_control);
    assert_eq!(sent, b"Linux version 6.1\r\n");
    // earlycon writes DR with byte stores and polls FR with 32-bit loads.
    assert_eq!(
        uart.write(0x00, 1, u64::from(b'e')).unwrap().transmitted,
        Some(b'e')
    );
    assert_eq!(uart.read(0x18, 4).unwrap() as u32 & flag::BUSY, 0);
}

#[test]
fn typed_bytes_raise_the_interrupt_until_the_driver_reads_them() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    for &byte in b"ls\r" {
        assert_eq!(uart.receive(byte), ReceiveOutcome::Queued);
    }
    assert!(
        uart.interrupt_level(),
        "receive timeout: bytes wait below the level"
    );
    assert_eq!(
        read16(&mut uart, 0x40),
        IM_RT,
        "RT only: 3 bytes are below half of 32"
    );
    let mut received = Vec::new();
    assert!(!linux_interrupt(&mut uart, IM_RT | IM_RX, &mut received));
    assert_eq!(
        received,
        [u16::from(b'l'), u16::from(b's'), u16::from(b'\r')]
    );
    assert!(!uart.interrupt_level(), "drained: the line falls");
    // At the level, RXRIS joins RTRIS.
    for byte in 0..16 {
        uart.receive(byte);
    }
    assert_eq!(read16(&mut uart, 0x3C) & (IM_RX | IM_RT), IM_RX | IM_RT);
}

#[test]
fn overrun_loses_the_byte_and_tells_the_driver() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    for byte in 0..RECEIVE_FIFO_DEPTH as u8 {
        assert_eq!(uart.receive(byte), ReceiveOutcome::Queued);
    }
    assert_ne!(read16(&mut uart, 0x18) as u32 & flag::RECEIVE_FIFO_FULL, 0);
    assert_eq!(uart.receive(0xAA), ReceiveOutcome::Overrun);
    assert_ne!(read16(&mut uart, 0x3C) & 0x400, 0, "OERIS");
    assert_eq!(read16(&mut uart, 0x04), 0x8, "RSR.OE");
    write16(&mut uart, 0x04, 0);
    assert_eq!(read16(&mut uart, 0x04), 0, "ECR write clears RSR");
    // The driver reads one entry; the next byte in carries DR.OE.
    assert_eq!(read16(&mut uart, 0x00), 0);
    assert_eq!(uart.receive(b'z'), ReceiveOutcome::Queued);
    let mut received = Vec::new();
    linux_interrupt(&mut uart, IM_RT | IM_RX | IM_ERRORS, &mut received);
    assert_eq!(received.len(), RECEIVE_FIFO_DEPTH);
    assert_eq!(received.last(), Some(&(0x800 | u16::from(b'z'))));
    assert!(!received.contains(&0xAA));
    assert_eq!(
        read16(&mut uart, 0x3C) & 0x400,
        0,
        "the handler cleared OERIS"
    );
}

#[test]
fn transmit_interrupt_fires_while_unmasked_and_stops_when_masked() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    // pl011_start_tx_pio with more queued than it sent: unmask TX.
    let effects = write16(&mut uart, 0x38, IM_RT | IM_RX | IM_TX);
    assert!(
        effects.interrupt,
        "the FIFO is empty: TX is asserted at once"
    );
    // ICR cannot clear it while the FIFO stays empty.
    write16(&mut uart, 0x44, IM_TX);
    assert!(uart.interrupt_level());
    let mut received = Vec::new();
    assert!(linux_interrupt(
        &mut uart,
        IM_RT | IM_RX | IM_TX,
        &mut received
    ));
    assert!(!uart.interrupt_level(), "pl011_stop_tx masked it");
}

#[test]
fn shutdown_masks_everything_and_stops_reception() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    uart.receive(b'x');
    // pl011_disable_interrupts, pl011_disable_uart, pl011_shutdown_channel.
    write16(&mut uart, 0x38, 0);
    write16(&mut uart, 0x44, 0xFFFF);
    assert!(!uart.interrupt_level());
    let control = read16(&mut uart, 0x30) & (CR_RTS | CR_DTR);
    write16(&mut uart, 0x30, control | CR_UARTEN | CR_TXE);
    let line_control = read16(&mut uart, 0x2C);
    write16(&mut uart, 0x2C, line_control & !(LCRH_FEN | 0x1));
    assert_eq!(uart.receive(b'y'), ReceiveOutcome::ReceiverDisabled);
    assert_ne!(
        read16(&mut uart, 0x18) as u32 & flag::RECEIVE_FIFO_EMPTY,
        0,
        "turning the FIFOs off emptied them"
    );
    // Console output still works after shutdown (TX stays enabled).
    assert_eq!(write16(&mut uart, 0x00, 0x41).transmitted, Some(0x41));
}

#[test]
fn without_fifos_the_receiver_holds_one_byte() {
    let mut uart = Pl011::new();
    write16(&mut uart, 0x38, IM_RX);
    assert_eq!(uart.receive(b'a'), ReceiveOutcome::Queued);
    assert!(
        uart.interrupt_level(),
        "character mode: one byte reaches the level"
    );
    assert_eq!(uart.receive(b'b'), ReceiveOutcome::Overrun);
}

#[test]
fn narrow_accesses_read_and_write_parts_of_registers() {
    let mut uart = Pl011::new();
    uart.write(0x24, 1, 0x34).unwrap();
    uart.write(0x25, 1, 0x12).unwrap();
    assert_eq!(uart.read(0x24, 4).unwrap(), 0x1234);
    assert_eq!(uart.read(0x25, 1).unwrap(), 0x12);
    // A byte store to DR's status byte sends nothing; a byte load there does not consume.
    assert_eq!(uart.write(0x01, 1, 0x41).unwrap().transmitted, None);
    uart.receive(b'q');
    assert_eq!(uart.read(0x01, 1).unwrap(), 0);
    assert_eq!(uart.read(0x00, 1).unwrap(), u64::from(b'q'));
    // Registers keep only their implemented bits; read-only ones ignore writes.
    uart.write(0x38, 4, 0xFFFF_FFFF).unwrap();
    assert_eq!(uart.read(0x38, 4).unwrap(), 0x7FF);
    uart.write(0x18, 4, 0).unwrap();
    assert_ne!(
        uart.read(0x18, 4).unwrap() as u32 & flag::TRANSMIT_FIFO_EMPTY,
        0
    );
    uart.write(0x48, 4, 0x7).unwrap();
    assert_eq!(uart.read(0x48, 4).unwrap(), 0, "DMACR: no DMA");
    assert_eq!(uart.read(0x44, 4).unwrap(), 0, "ICR is write-only");
    assert_eq!(uart.read(0x800, 4).unwrap(), 0, "reserved reads as zero");
}

#[test]
fn bad_accesses_are_refused_without_effect() {
    let mut uart = Pl011::new();
    uart.receive(b'k');
    assert_eq!(
        uart.read(0x00, 8),
        Err(Pl011AccessError::UnsupportedWidth {
            offset: 0,
            width: 8
        })
    );
    assert_eq!(
        uart.write(0x00, 3, 0x41),
        Err(Pl011AccessError::UnsupportedWidth {
            offset: 0,
            width: 3
        })
    );
    assert_eq!(
        uart.read(0x02, 4),
        Err(Pl011AccessError::Misaligned {
            offset: 2,
            width: 4
        })
    );
    assert_eq!(
        uart.write(0x1000, 4, 0),
        Err(Pl011AccessError::OutOfRange { offset: 0x1000 })
    );
    assert_eq!(
        uart.read(u64::MAX - 3, 4),
        Err(Pl011AccessError::OutOfRange {
            offset: u64::MAX - 3
        })
    );
    assert_eq!(
        uart.read(0x00, 4).unwrap(),
        u64::from(b'k'),
        "the byte is still there"
    );
    let message = Pl011AccessError::Misaligned {
        offset: 2,
        width: 4,
    }
    .to_string();
    assert!(message.contains("unaligned offset 0x2"));
}

#[test]
fn reset_returns_to_the_initial_state() {
    let mut uart = Pl011::new();
    linux_probe_and_startup(&mut uart);
    uart.receive(b'x');
    uart.reset();
    assert_eq!(uart.read(0x38, 4).unwrap(), 0);
    assert_eq!(uart.read(0x30, 4).unwrap(), CR_UARTEN | CR_TXE | CR_RXE);
    assert_eq!(uart.read(0x34, 4).unwrap(), IFLS_RX4_8_TX4_8);
    assert_ne!(
        uart.read(0x18, 4).unwrap() as u32 & flag::RECEIVE_FIFO_EMPTY,
        0
    );
}

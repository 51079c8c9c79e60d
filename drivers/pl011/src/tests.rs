//! Host tests against a PL011 register frame simulated in RAM (no FIFO behaviour: registers hold what was written).

use super::Pl011;
use embedded_io::Read as _;
use hyp_arm_serial::{SerialIo, SerialPort as _};

const FR: usize = 0x018;
const DR: usize = 0x000;
const IBRD: usize = 0x024;
const FBRD: usize = 0x028;
const LCR_H: usize = 0x02c;
const CR: usize = 0x030;
const IMSC: usize = 0x038;
const ICR: usize = 0x044;

/// A zeroed 4 KiB stand-in for the register frame.
struct FakeFrame {
    memory: Vec<u32>,
}

impl FakeFrame {
    fn new() -> Self {
        Self {
            memory: vec![0; 0x1000 / 4],
        }
    }

    fn uart(&mut self) -> Pl011 {
        // SAFETY: the frame is 4 KiB of 4-byte aligned memory that outlives the test's use of the driver,
        // and the test only touches it through `read`/`write` below, between driver calls.
        unsafe { Pl011::new(self.memory.as_mut_ptr() as usize) }
    }

    fn read(&self, offset: usize) -> u32 {
        self.memory[offset / 4]
    }

    fn write(&mut self, offset: usize, value: u32) {
        self.memory[offset / 4] = value;
    }
}

#[test]
fn init_programs_8n1_with_fifos_and_keeps_the_divisors() {
    let mut frame = FakeFrame::new();
    frame.write(IBRD, 13);
    frame.write(FBRD, 1);
    frame.write(IMSC, 0x7ff);
    frame.uart().init();
    assert_eq!(frame.read(LCR_H), 0b0111_0000, "WLEN=8 bits, FEN");
    assert_eq!(frame.read(CR), 0x301, "UARTEN, TXE, RXE");
    assert_eq!(frame.read(IMSC), 0, "all interrupts masked");
    assert_eq!(frame.read(ICR), 0x7ff, "all interrupts cleared");
    assert_eq!((frame.read(IBRD), frame.read(FBRD)), (13, 1));
}

#[test]
fn write_byte_stores_the_byte_in_the_data_register() {
    let mut frame = FakeFrame::new();
    let uart = frame.uart();
    uart.write_byte(b'x');
    assert_eq!(
        embedded_io::Write::write(&mut SerialIo(&uart), b"ab\n").unwrap(),
        3
    );
    core::fmt::Write::write_fmt(&mut SerialIo(&uart), format_args!("{}", 7)).unwrap();
    assert_eq!(frame.read(DR), u32::from(b'7'));
}

#[test]
fn try_read_byte_honours_rxfe_and_drops_damaged_bytes() {
    let mut frame = FakeFrame::new();
    frame.write(FR, 1 << 4); // RXFE
    assert_eq!(frame.uart().try_read_byte(), None);
    frame.write(FR, 0);
    frame.write(DR, u32::from(b'k') | 1 << 11); // overrun: the byte itself is good
    assert_eq!(frame.uart().try_read_byte(), Some(b'k'));
    frame.write(DR, u32::from(b'k') | 1 << 8); // framing error
    assert_eq!(frame.uart().try_read_byte(), None);
}

#[test]
fn read_returns_at_least_one_byte_and_zero_for_an_empty_buffer() {
    let mut frame = FakeFrame::new();
    frame.write(DR, u32::from(b'q'));
    let mut uart = SerialIo(frame.uart());
    let mut buffer = [0u8; 4];
    // The simulated FIFO never empties, so every slot fills.
    assert_eq!(uart.read(&mut buffer).unwrap(), 4);
    assert_eq!(buffer, *b"qqqq");
    assert_eq!(uart.read(&mut []).unwrap(), 0);
}

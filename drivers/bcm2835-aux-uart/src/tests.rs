//! Host tests against a mini UART register frame simulated in RAM (registers hold what was
//! written; the test sets the status bits the hardware would).

use super::MiniUart;
use embedded_io::Read as _;
use hyp_arm_serial::{SerialIo, SerialPort as _};

const IO: usize = 0x00;
const IER: usize = 0x04;
const IIR: usize = 0x08;
const LCR: usize = 0x0c;
const LSR: usize = 0x14;
const CNTL: usize = 0x20;
const BAUD: usize = 0x28;

const DATA_READY: u32 = 1 << 0;
const TRANSMITTER_EMPTY: u32 = 1 << 5;
const TRANSMITTER_IDLE: u32 = 1 << 6;

/// A zeroed stand-in for the 0x40-byte register frame.
struct FakeFrame {
    memory: Vec<u32>,
}

impl FakeFrame {
    fn new() -> Self {
        Self {
            memory: vec![0; 0x40 / 4],
        }
    }

    fn uart(&mut self) -> MiniUart {
        // SAFETY: the frame is 0x40 bytes of 4-byte aligned memory that outlives the test's use
        // of the driver, touched by the test only through `read`/`write`, between driver calls.
        unsafe { MiniUart::new(self.memory.as_mut_ptr() as usize) }
    }

    fn read(&self, offset: usize) -> u32 {
        self.memory[offset / 4]
    }

    fn write(&mut self, offset: usize, value: u32) {
        self.memory[offset / 4] = value;
    }
}

#[test]
fn init_programs_8_bits_clears_the_fifos_and_keeps_the_baud_divisor() {
    let mut frame = FakeFrame::new();
    frame.write(LSR, TRANSMITTER_IDLE | TRANSMITTER_EMPTY);
    frame.write(BAUD, 270); // 115200 baud at the firmware's 250 MHz core clock
    frame.write(IER, 0x3);
    frame.uart().init();
    assert_eq!(frame.read(LCR), 0b11, "8-bit mode needs both bits (errata)");
    assert_eq!(frame.read(IIR), 0b110, "both FIFOs cleared");
    assert_eq!(
        frame.read(CNTL),
        0b11,
        "receiver and transmitter on, no flow control"
    );
    assert_eq!(frame.read(IER), 0, "interrupts off");
    assert_eq!(frame.read(BAUD), 270);
}

#[test]
fn receive_interrupts_enable_receive_and_line_status() {
    let mut frame = FakeFrame::new();
    frame.uart().enable_receive_interrupts();
    assert_eq!(frame.read(IER), 0b101);
}

#[test]
fn write_byte_stores_the_byte_when_the_fifo_has_room() {
    let mut frame = FakeFrame::new();
    frame.write(LSR, TRANSMITTER_EMPTY);
    let uart = frame.uart();
    assert!(uart.can_write());
    uart.write_bytes(b"ok");
    assert_eq!(frame.read(IO), u32::from(b'k'));
}

#[test]
fn a_full_fifo_cannot_be_written() {
    let mut frame = FakeFrame::new();
    assert!(!frame.uart().can_write());
}

#[test]
fn reads_take_a_byte_only_when_data_is_ready() {
    let mut frame = FakeFrame::new();
    frame.write(IO, u32::from(b'a'));
    assert_eq!(frame.uart().try_read_byte(), None, "no DATA_READY, no byte");
    assert!(!frame.uart().can_read());
    frame.write(LSR, DATA_READY | 1 << 1);
    assert_eq!(
        frame.uart().try_read_byte(),
        Some(b'a'),
        "an overrun keeps the byte"
    );
    let mut buffer = [0; 1];
    assert_eq!(SerialIo(frame.uart()).read(&mut buffer).ok(), Some(1));
    assert_eq!(buffer, [b'a']);
    assert_eq!(SerialIo(frame.uart()).read(&mut []).ok(), Some(0));
}

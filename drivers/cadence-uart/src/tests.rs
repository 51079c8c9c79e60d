//! Host tests against a Cadence UART register frame simulated in RAM (no FIFO behaviour:
//! registers hold what was written, and self-clearing bits stay set).

use super::CadenceUart;
use embedded_io::Read as _;
use hyp_arm_serial::{SerialIo, SerialPort as _};

const CR: usize = 0x00;
const MR: usize = 0x04;
const IDR: usize = 0x0c;
const ISR: usize = 0x14;
const BAUDGEN: usize = 0x18;
const RXWM: usize = 0x20;
const IER: usize = 0x08;
const SR: usize = 0x2c;
const FIFO: usize = 0x30;
const BAUDDIV: usize = 0x34;

const SR_REMPTY: u32 = 1 << 1;
const SR_TEMPTY: u32 = 1 << 3;

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

    fn uart(&mut self) -> CadenceUart {
        // SAFETY: the frame is 4 KiB of 4-byte aligned memory that outlives the test's use of the
        // driver, and the test only touches it through `read`/`write` below, between driver calls.
        unsafe { CadenceUart::new(self.memory.as_mut_ptr() as usize) }
    }

    fn read(&self, offset: usize) -> u32 {
        self.memory[offset / 4]
    }

    fn write(&mut self, offset: usize, value: u32) {
        self.memory[offset / 4] = value;
    }
}

#[test]
fn init_programs_8n1_enables_both_directions_and_keeps_the_baud_rate() {
    let mut frame = FakeFrame::new();
    frame.write(SR, SR_TEMPTY);
    frame.write(BAUDGEN, 0x7c);
    frame.write(BAUDDIV, 6);
    // The firmware's odd parity (PAR 0b001) and 2 stop bits (NBSTOP 0b10), with the reference
    // clock divided by 8 (CLKSEL).
    frame.write(MR, 0b10 << 6 | 0b001 << 3 | 1);
    frame.uart().init();
    assert_eq!(
        frame.read(MR),
        0b100 << 3 | 1,
        "8 bits, no parity, 1 stop bit, CLKSEL kept"
    );
    // Resets stay set in the fake frame (they self-clear on hardware), so `init` gave up waiting
    // and then wrote RX_EN, TX_EN, RSTTO and STPBRK.
    assert_eq!(frame.read(CR), 0x154);
    assert_eq!(frame.read(IDR), 0x1fff, "every interrupt disabled");
    assert_eq!(frame.read(ISR), 0x1fff, "every interrupt status cleared");
    assert_eq!((frame.read(BAUDGEN), frame.read(BAUDDIV)), (0x7c, 6));
}

#[test]
fn write_byte_stores_the_byte_in_the_fifo_register() {
    let mut frame = FakeFrame::new();
    let uart = frame.uart();
    uart.write_byte(b'x');
    assert_eq!(
        embedded_io::Write::write(&mut SerialIo(&uart), b"ab\n").unwrap(),
        3
    );
    core::fmt::Write::write_fmt(&mut SerialIo(&uart), format_args!("{}", 7)).unwrap();
    assert_eq!(frame.read(FIFO), u32::from(b'7'));
}

#[test]
fn try_read_byte_honours_rempty_and_clears_the_receive_status_when_empty() {
    let mut frame = FakeFrame::new();
    frame.write(SR, SR_REMPTY);
    frame.write(FIFO, u32::from(b'k'));
    assert_eq!(frame.uart().try_read_byte(), None);
    assert_eq!(
        frame.read(ISR),
        1 | 1 << 8,
        "RTRIG and TIMEOUT written to clear them"
    );
    frame.write(ISR, 0);
    frame.write(SR, 0);
    assert_eq!(frame.uart().try_read_byte(), Some(b'k'));
    assert_eq!(frame.read(ISR), 0, "nothing cleared while bytes wait");
}

#[test]
fn receive_interrupts_trigger_at_one_byte() {
    let mut frame = FakeFrame::new();
    frame.uart().enable_receive_interrupts();
    assert_eq!(frame.read(RXWM), 1);
    assert_eq!(frame.read(IER), 1, "RTRIG");
}

#[test]
fn read_returns_at_least_one_byte_and_zero_for_an_empty_buffer() {
    let mut frame = FakeFrame::new();
    frame.write(FIFO, u32::from(b'q'));
    let mut uart = SerialIo(frame.uart());
    let mut buffer = [0u8; 4];
    // The simulated FIFO never empties, so every slot fills.
    assert_eq!(uart.read(&mut buffer).unwrap(), 4);
    assert_eq!(buffer, *b"qqqq");
    assert_eq!(uart.read(&mut []).unwrap(), 0);
}

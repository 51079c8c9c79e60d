//! Host tests of [`SerialIo`] on a fake UART that records what it was asked to do.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use embedded_io::{Read as _, ReadReady as _, Write as _, WriteReady as _};

use super::{SerialIo, SerialPort};

/// A UART in memory: `input` is what the line delivers, `output` what was transmitted.
#[derive(Default)]
struct FakeUart {
    input: RefCell<VecDeque<u8>>,
    output: RefCell<Vec<u8>>,
    /// How many times `try_read_byte` found nothing before `input` gets its `late` byte.
    empty_polls_before_late: Cell<u32>,
    late: Cell<Option<u8>>,
    transmit_full: Cell<bool>,
    flushes: Cell<u32>,
}

impl FakeUart {
    fn with_input(bytes: &[u8]) -> Self {
        let uart = Self::default();
        uart.input.borrow_mut().extend(bytes);
        uart
    }
}

impl SerialPort for FakeUart {
    fn init(&self) {}

    fn write_byte(&self, byte: u8) {
        self.output.borrow_mut().push(byte);
    }

    fn try_read_byte(&self) -> Option<u8> {
        if let Some(byte) = self.input.borrow_mut().pop_front() {
            return Some(byte);
        }
        match self.empty_polls_before_late.get() {
            0 => self.late.take(),
            polls => {
                self.empty_polls_before_late.set(polls - 1);
                None
            }
        }
    }

    fn flush(&self) {
        self.flushes.set(self.flushes.get() + 1);
    }

    fn can_read(&self) -> bool {
        !self.input.borrow().is_empty()
    }

    fn can_write(&self) -> bool {
        !self.transmit_full.get()
    }
}

#[test]
fn write_sends_every_byte_as_it_is_and_reports_them_all() {
    let mut io = SerialIo(FakeUart::default());
    assert_eq!(io.write(b"ab\n").unwrap(), 3);
    io.flush().unwrap();
    assert_eq!(*io.0.output.borrow(), b"ab\n");
    assert_eq!(io.0.flushes.get(), 1);
}

#[test]
fn fmt_write_sends_the_formatted_text() {
    let mut io = SerialIo(FakeUart::default());
    core::fmt::Write::write_fmt(&mut io, format_args!("{}-{:#x}", 7, 255)).unwrap();
    assert_eq!(*io.0.output.borrow(), b"7-0xff");
}

#[test]
fn read_takes_what_is_there_without_waiting_for_more() {
    let mut io = SerialIo(FakeUart::with_input(b"hi"));
    let mut buffer = [0u8; 4];
    assert_eq!(io.read(&mut buffer).unwrap(), 2);
    assert_eq!(&buffer[..2], b"hi");
}

#[test]
fn read_stops_at_the_end_of_the_buffer() {
    let mut io = SerialIo(FakeUart::with_input(b"hello"));
    let mut buffer = [0u8; 3];
    assert_eq!(io.read(&mut buffer).unwrap(), 3);
    assert_eq!(buffer, *b"hel");
    assert_eq!(*io.0.input.borrow(), b"lo");
}

#[test]
fn read_waits_for_the_first_byte() {
    let uart = FakeUart::default();
    uart.empty_polls_before_late.set(5);
    uart.late.set(Some(b'z'));
    let mut io = SerialIo(uart);
    let mut buffer = [0u8; 4];
    assert_eq!(io.read(&mut buffer).unwrap(), 1);
    assert_eq!(buffer[0], b'z');
}

#[test]
fn read_into_an_empty_buffer_returns_at_once() {
    // No input at all: a read that waited would never return.
    let mut io = SerialIo(FakeUart::default());
    assert_eq!(io.read(&mut []).unwrap(), 0);
}

#[test]
fn readiness_follows_the_uart() {
    let mut io = SerialIo(FakeUart::default());
    assert!(!io.read_ready().unwrap());
    assert!(io.write_ready().unwrap());
    io.0.input.borrow_mut().push_back(b'x');
    io.0.transmit_full.set(true);
    assert!(io.read_ready().unwrap());
    assert!(!io.write_ready().unwrap());
}

#[test]
fn a_reference_drives_the_uart_it_refers_to() {
    let uart = FakeUart::with_input(b"r");
    let mut io = SerialIo(&uart);
    io.write(b"w").unwrap();
    let mut buffer = [0u8; 1];
    assert_eq!(io.read(&mut buffer).unwrap(), 1);
    assert_eq!(*uart.output.borrow(), b"w");
    assert_eq!(buffer, *b"r");
}

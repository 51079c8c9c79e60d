//! Host tests of the serial console adapter on a fake UART.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hyp_arm_serial::SerialPort;

use super::{SerialConsole, SerialConsoleUart};
use crate::console::ConsoleUart;
use crate::platform::Uart;

/// A UART that counts what the console asks of it.
#[derive(Default)]
struct FakeUart {
    base: usize,
    inits: AtomicUsize,
    written: AtomicUsize,
    reads: AtomicUsize,
    receive_interrupts: AtomicBool,
}

impl SerialPort for FakeUart {
    fn init(&self) {
        self.inits.fetch_add(1, Ordering::Relaxed);
    }

    fn write_byte(&self, _byte: u8) {
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    fn try_read_byte(&self) -> Option<u8> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Some(b'k')
    }

    fn flush(&self) {}

    fn can_read(&self) -> bool {
        true
    }

    fn can_write(&self) -> bool {
        true
    }

    fn enable_receive_interrupts(&self) {
        self.receive_interrupts.store(true, Ordering::Relaxed);
    }
}

/// A UART without receive interrupts: the trait's default does nothing.
struct PollOnlyUart;

impl SerialPort for PollOnlyUart {
    fn init(&self) {}

    fn write_byte(&self, _byte: u8) {}

    fn try_read_byte(&self) -> Option<u8> {
        None
    }

    fn flush(&self) {}

    fn can_read(&self) -> bool {
        false
    }

    fn can_write(&self) -> bool {
        true
    }
}

fn uart(compatible: &str, base: u64) -> Uart<'_> {
    Uart {
        path: Default::default(),
        compatible,
        base,
        size: 0x1000,
        options: None,
    }
}

#[test]
fn another_compatible_gets_no_console_and_builds_nothing() {
    static CONSOLE: SerialConsole<FakeUart> = SerialConsole::new(&["vendor,a", "vendor,b"]);
    let console = CONSOLE.console_for(&uart("vendor,c", 0x9000_0000), |_| {
        panic!("built a driver for a UART it does not drive")
    });
    assert!(console.is_none());
}

#[test]
fn the_driver_is_built_and_initialised_once_from_the_uart_base() {
    static CONSOLE: SerialConsole<FakeUart> = SerialConsole::new(&["vendor,a", "vendor,b"]);
    let builds = AtomicUsize::new(0);
    let build = |base| {
        builds.fetch_add(1, Ordering::Relaxed);
        FakeUart {
            base,
            ..FakeUart::default()
        }
    };
    let first = CONSOLE.console_for(&uart("vendor,b", 0x9000_0000), build);
    let second = CONSOLE.console_for(&uart("vendor,a", 0x1234_0000), build);
    assert!(first.is_some());
    assert_eq!(builds.load(Ordering::Relaxed), 1);
    let (Some(first), Some(second)) = (first, second) else {
        panic!("a matching compatible got no console");
    };
    assert!(core::ptr::addr_eq(first, second), "one driver for good");
    assert_eq!(
        CONSOLE.uart.get().map(|uart| uart.0.base),
        Some(0x9000_0000)
    );
}

#[test]
fn the_console_drives_the_uart() {
    let console = SerialConsoleUart(FakeUart::default());
    console.write_bytes(b"hello");
    assert_eq!(console.read_byte(), Some(b'k'));
    console.enable_receive_interrupts();
    assert_eq!(console.0.written.load(Ordering::Relaxed), 5);
    assert_eq!(console.0.reads.load(Ordering::Relaxed), 1);
    assert!(console.0.receive_interrupts.load(Ordering::Relaxed));
}

#[test]
fn a_uart_without_receive_interrupts_keeps_doing_nothing() {
    let console = SerialConsoleUart(PollOnlyUart);
    console.enable_receive_interrupts();
    assert_eq!(console.read_byte(), None);
}

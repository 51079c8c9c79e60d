//! Output: whole lines written to the PL011 the device tree's `/chosen/stdout-path` names, by
//! its data register (the hypervisor passes the UART through or emulates it), or, without one,
//! through hyp-arm's `CONSOLE_WRITE` hypercall.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::hypercall;

/// The PL011's base address; 0 until [`use_pl011`], which means "use the hypercall".
static PL011: AtomicU64 = AtomicU64::new(0);

// PL011 registers (Arm DDI 0183G, 3.2).
const UARTDR: u64 = 0x000;
const UARTFR: u64 = 0x018;
const UARTFR_TXFF: u32 = 1 << 5;

/// Bytes in one line; more are dropped.
const LINE_CAPACITY: usize = 160;

/// Prints through the PL011 at `base` from now on.
///
/// # Safety
///
/// `base` must be a PL011's register block that this guest may drive.
pub unsafe fn use_pl011(base: u64) {
    PL011.store(base, Ordering::Relaxed);
}

/// One line of output, built piece by piece and printed whole.
pub struct Line {
    bytes: [u8; LINE_CAPACITY],
    length: usize,
}

impl Line {
    pub fn new() -> Line {
        Line {
            bytes: [0; LINE_CAPACITY],
            length: 0,
        }
    }

    pub fn text(mut self, text: &str) -> Line {
        self.bytes_of(text.as_bytes());
        self
    }

    /// A decimal number.
    pub fn number(mut self, mut value: u64) -> Line {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (value % 10) as u8;
            count += 1;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        for index in (0..count).rev() {
            self.push(digits[index]);
        }
        self
    }

    /// A hexadecimal number with `0x`.
    pub fn hex(mut self, value: u64) -> Line {
        self.bytes_of(b"0x");
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
        for index in (0..digits).rev() {
            let nibble = (value >> (index * 4)) as u8 & 0xf;
            self.push(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
        self
    }

    pub fn print(mut self) {
        self.push(b'\n');
        let line = &self.bytes[..self.length];
        match PL011.load(Ordering::Relaxed) {
            0 => {
                for chunk in line.chunks(hypercall::CONSOLE_WRITE_MAX) {
                    hypercall::console_write(chunk);
                }
            }
            base => {
                for &byte in line {
                    if byte == b'\n' {
                        pl011_write(base, b'\r');
                    }
                    pl011_write(base, byte);
                }
            }
        }
    }

    fn bytes_of(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push(byte);
        }
    }

    fn push(&mut self, byte: u8) {
        // Keep the last place for the newline.
        if self.length < LINE_CAPACITY - 1 || byte == b'\n' {
            self.bytes[self.length.min(LINE_CAPACITY - 1)] = byte;
            self.length = (self.length + 1).min(LINE_CAPACITY);
        }
    }
}

fn pl011_write(base: u64, byte: u8) {
    // SAFETY: `use_pl011`'s caller vouched that `base` is a PL011 this guest drives; reading
    // UARTFR and writing UARTDR only send the byte.
    unsafe {
        while read_volatile((base + UARTFR) as *const u32) & UARTFR_TXFF != 0 {}
        write_volatile((base + UARTDR) as *mut u32, u32::from(byte));
    }
}

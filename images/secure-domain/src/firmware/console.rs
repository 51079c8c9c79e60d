//! The domain's console: text through hyp-arm's CONSOLE_WRITE hypercall, 40 bytes per call (the
//! hypervisor buffers lines and tags them with the domain's name), or, once `own_uart::adopt` has
//! taken a Cadence UART the domain owns (the ZCU102's uart1), straight to that UART. With the
//! `bare-qemu` feature the same bytes go to QEMU virt's PL011 instead, as there is no hypervisor
//! to call.
//!
//! A `Console` is a short-lived value on the stack: each line builds one, so the interrupt
//! handler's and the main loop's output never share a buffer.

use core::fmt;

use hyp_arm_secure_domain::console_chunks::ChunkBuffer;

/// Writes one line, formatted, to the console (`say!("...", ...)`); the newline is added.
#[macro_export]
macro_rules! say {
    ($($argument:tt)*) => {{
        let mut console = $crate::console::Console::new();
        // The console's `write_str` never fails.
        let _ = core::fmt::Write::write_fmt(&mut console, format_args!($($argument)*));
        console.write_bytes(b"\n");
        console.flush();
    }};
}

/// Output being gathered into hypercall-sized chunks.
pub struct Console {
    buffer: ChunkBuffer,
}

impl Console {
    pub const fn new() -> Self {
        Self {
            buffer: ChunkBuffer::new(),
        }
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.buffer.push(bytes, &mut send);
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        self.buffer.flush(&mut send);
    }

    /// `0x` and 16 hex digits, without `core::fmt` (for code that cannot rely on absolute
    /// addresses, see `exceptions::loaded_at_wrong_address`).
    pub fn write_hex(&mut self, value: u64) {
        let mut digits = *b"0x0000000000000000";
        for index in 0..16 {
            let nibble = (value >> (60 - 4 * index)) & 0xf;
            digits[2 + index] = if nibble < 10 {
                b'0' + nibble as u8
            } else {
                b'a' + (nibble - 10) as u8
            };
        }
        self.write_bytes(&digits);
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_bytes(text.as_bytes());
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One chunk to the domain's own UART, else to the hypervisor. A failed call (a bad count, which
/// the chunking never produces) has nowhere to be reported but the console itself, so it is
/// dropped.
#[cfg(not(feature = "bare-qemu"))]
fn send(chunk: &[u8]) {
    if !crate::own_uart::write(chunk) {
        let _ = crate::hypercall::console_write(chunk);
    }
}

/// One chunk to QEMU virt's PL011 (bare-qemu builds only).
#[cfg(feature = "bare-qemu")]
fn send(chunk: &[u8]) {
    crate::bare_uart::write(chunk);
}

//! The hypervisor's console: line-buffered, tagged log output on the UART the board chose.
//!
//! Every line goes out whole under one lock, so lines from different CPUs never interleave, and
//! starts with a tag naming its source (`[hyp]`), as the guests' own output shares the UART.

use core::fmt::{self, Write};

/// A UART driver the board hands to the core for its console.
pub trait ConsoleUart: Sync {
    /// Writes raw bytes, blocking while the transmit FIFO is full.
    fn write_bytes(&self, bytes: &[u8]);
}

static CONSOLE: spin::Once<&'static dyn ConsoleUart> = spin::Once::new();
static OUTPUT_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Selects the console. Later calls are ignored: the console never changes once chosen.
pub fn set_console(uart: &'static dyn ConsoleUart) {
    CONSOLE.call_once(|| uart);
}

/// True once a console is available.
pub fn has_console() -> bool {
    CONSOLE.is_completed()
}

/// A line being assembled; longer lines are cut (and marked) rather than split.
struct LineBuffer {
    bytes: heapless::Vec<u8, 256>,
    truncated: bool,
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            // Terminals want CR LF.
            if byte == b'\n' && self.bytes.push(b'\r').is_err() {
                self.truncated = true;
            }
            if self.bytes.push(byte).is_err() {
                self.truncated = true;
            }
        }
        Ok(())
    }
}

/// Writes one tagged line. Used through the `hyp_log!` macro.
pub fn write_line(args: fmt::Arguments) {
    let Some(console) = CONSOLE.get() else { return };
    let mut line = LineBuffer {
        bytes: heapless::Vec::new(),
        truncated: false,
    };
    let _ = line.write_str("[hyp] ");
    let _ = line.write_fmt(args);
    let _ = line.write_str(if line.truncated { "...\n" } else { "\n" });
    let _guard = OUTPUT_LOCK.lock();
    console.write_bytes(&line.bytes);
}

/// Writes one line without taking the lock: for the panic path, where the lock may be held by
/// the CPU that panicked.
pub fn write_line_unlocked(args: fmt::Arguments) {
    let Some(console) = CONSOLE.get() else { return };
    let mut line = LineBuffer {
        bytes: heapless::Vec::new(),
        truncated: false,
    };
    let _ = line.write_str("[hyp] ");
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    console.write_bytes(&line.bytes);
}

/// Logs a line on the hypervisor console, tagged `[hyp]`.
#[macro_export]
macro_rules! hyp_log {
    ($($argument:tt)*) => { $crate::console::write_line(format_args!($($argument)*)) };
}

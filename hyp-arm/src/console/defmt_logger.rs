//! defmt's global logger: each record is one frame on the console UART, among the guests' text.
//!
//! A frame is [`FRAME_START`], then the record in defmt's rzCOBS encoding, which contains no
//! zero byte, then [`FRAME_END`]. 0xFF never occurs in UTF-8 text, so the host finds frames in the
//! guests' output without any help from them (docs/LOGGING.md).

use super::{Output, CONSOLE, OUTPUT_LOCK};

/// Opens a frame: a byte that UTF-8 text never contains.
pub const FRAME_START: u8 = 0xFF;

/// Closes a frame: rzCOBS's frame separator, which never occurs inside a frame.
pub const FRAME_END: u8 = 0x00;

#[defmt::global_logger]
struct ConsoleLogger;

// SAFETY: `acquire` takes OUTPUT_LOCK and keeps it until `release`, so one CPU at a time encodes
// a frame, and `write`, `flush` and `release` run only while the lock is held by their caller
// (defmt's contract). EL2 runs with interrupts masked, so nothing re-enters `acquire` on the CPU
// that holds the lock; an exception at EL2 panics, and the panic path writes text unlocked.
unsafe impl defmt::Logger for ConsoleLogger {
    fn acquire() {
        let mut output = OUTPUT_LOCK.lock();
        // The interactive domain's prompt may be on the terminal without its line end: end that
        // line, so the record the host decodes from this frame gets a line of its own.
        output.mux.end_open_line(&mut send);
        // The encoder may open with a separator of its own (before its first frame): it goes out
        // before FRAME_START, where the host drops it.
        output.encoder.start_frame(send);
        send(&[FRAME_START]);
        // Released in `release`.
        core::mem::forget(output);
    }

    unsafe fn flush() {
        // The UART driver blocks until each byte is in its FIFO: nothing is buffered here.
    }

    unsafe fn release() {
        // SAFETY: defmt calls `release` only after `acquire`, so this CPU holds the lock.
        unsafe { with_locked_output(|output| output.encoder.end_frame(send)) };
        // SAFETY: this CPU took the lock in `acquire` and forgot the guard; nothing refers to the
        // output after this point.
        unsafe { OUTPUT_LOCK.force_unlock() };
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: defmt calls `write` only between `acquire` and `release`, so this CPU holds
        // the lock.
        unsafe { with_locked_output(|output| output.encoder.write(bytes, send)) };
    }
}

/// Runs `action` on the output state, reached without a guard.
///
/// # Safety
///
/// This CPU holds OUTPUT_LOCK (taken in `acquire`, its guard forgotten).
unsafe fn with_locked_output(action: impl FnOnce(&mut Output)) {
    // SAFETY: the caller holds the lock, so nothing else refers to the data while `action` runs.
    action(unsafe { &mut *OUTPUT_LOCK.as_mut_ptr() })
}

/// Sends encoded bytes to the console, if one is chosen yet.
fn send(bytes: &[u8]) {
    if let Some(console) = CONSOLE.get() {
        console.write_bytes(bytes);
    }
}

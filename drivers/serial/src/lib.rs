//! What every hyp-arm UART driver offers, as one trait ([`SerialPort`]), and the one place that
//! turns any such driver into an `embedded_io` and `core::fmt` writer and reader ([`SerialIo`]).
//!
//! The drivers implement only the byte-level operations their hardware defines; the stream
//! behaviour (how a `read` waits, what a `write` reports) is written once here, so every UART
//! behaves the same to its callers.
//!
//! `SerialIo` is a wrapper rather than a blanket impl because the orphan rule forbids
//! `impl<T: SerialPort> embedded_io::Write for T` (both trait and `T` would be foreign to this
//! crate), and a wrapper rather than a macro expanded in each driver because a generic type is
//! checked, documented and tested once, here, on a fake UART, where a macro would be compiled
//! (and could fail) anew in every driver crate.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod io;

pub use io::SerialIo;

/// A polled UART: taking it over, and its byte-level operations.
///
/// Methods take `&self`: a driver is a handle on device registers, each access a single volatile
/// one that the device serialises, so a shared reference is all a caller needs.
pub trait SerialPort {
    /// Takes the UART over from whatever ran before (firmware, a loader): data format, FIFOs,
    /// transmitter and receiver on, every interrupt masked; the baud rate stays as it was set.
    fn init(&self);

    /// Queues one byte, waiting while the transmit FIFO is full.
    ///
    /// The wait has no limit: the FIFO drains at the line rate, and a UART that never drains
    /// leaves nothing better to do with the byte.
    fn write_byte(&self, byte: u8);

    /// Queues `bytes` as they are (no newline translation: a caller that wants `\r\n` writes it).
    fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_byte(byte);
        }
    }

    /// Takes one received byte, if there is one (a damaged byte the driver drops counts as none).
    fn try_read_byte(&self) -> Option<u8>;

    /// Waits until every queued byte has left the transmitter.
    fn flush(&self);

    /// Whether a byte is waiting to be read.
    fn can_read(&self) -> bool;

    /// Whether `write_byte` would return without waiting.
    fn can_write(&self) -> bool;

    /// Makes the UART raise its interrupt while received bytes wait, so that input can be read on
    /// interrupt instead of by polling. A UART without the means keeps its interrupt quiet.
    fn enable_receive_interrupts(&self) {}
}

/// A shared reference drives the UART it refers to, so `SerialIo(&uart)` works without giving
/// the driver away.
impl<U: SerialPort + ?Sized> SerialPort for &U {
    fn init(&self) {
        (**self).init();
    }

    fn write_byte(&self, byte: u8) {
        (**self).write_byte(byte);
    }

    fn write_bytes(&self, bytes: &[u8]) {
        (**self).write_bytes(bytes);
    }

    fn try_read_byte(&self) -> Option<u8> {
        (**self).try_read_byte()
    }

    fn flush(&self) {
        (**self).flush();
    }

    fn can_read(&self) -> bool {
        (**self).can_read()
    }

    fn can_write(&self) -> bool {
        (**self).can_write()
    }

    fn enable_receive_interrupts(&self) {
        (**self).enable_receive_interrupts();
    }
}

#[cfg(test)]
mod tests;

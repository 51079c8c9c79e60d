//! [`SerialIo`]: `embedded_io` and `core::fmt::Write` for any [`SerialPort`].

use core::convert::Infallible;
use core::fmt;
use core::hint::spin_loop;

use crate::SerialPort;

/// A UART driver seen as an `embedded_io` byte stream and a `core::fmt` writer.
///
/// Writes never fail and never come up short: they wait for room in the transmit FIFO. A read
/// blocks until one byte has arrived, then takes what else is there without waiting more.
#[derive(Debug)]
pub struct SerialIo<U>(pub U);

impl<U: SerialPort> embedded_io::ErrorType for SerialIo<U> {
    type Error = Infallible;
}

impl<U: SerialPort> embedded_io::Write for SerialIo<U> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush();
        Ok(())
    }
}

impl<U: SerialPort> embedded_io::WriteReady for SerialIo<U> {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.0.can_write())
    }
}

impl<U: SerialPort> embedded_io::Read for SerialIo<U> {
    /// Blocks until at least one byte has arrived, then takes what is there without waiting more.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some((first, rest)) = buf.split_first_mut() else {
            return Ok(0);
        };
        *first = loop {
            if let Some(byte) = self.0.try_read_byte() {
                break byte;
            }
            spin_loop();
        };
        let mut count = 1;
        for slot in rest {
            let Some(byte) = self.0.try_read_byte() else {
                break;
            };
            *slot = byte;
            count += 1;
        }
        Ok(count)
    }
}

impl<U: SerialPort> embedded_io::ReadReady for SerialIo<U> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.0.can_read())
    }
}

impl<U: SerialPort> fmt::Write for SerialIo<U> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write_bytes(text.as_bytes());
        Ok(())
    }
}

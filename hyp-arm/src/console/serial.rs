//! The board's console over one of the UART drivers: [`SerialConsoleUart`] adapts any
//! [`SerialPort`] to [`ConsoleUart`], and [`SerialConsole`] builds that driver once, on the first
//! console lookup that names one of its `compatible` strings.
//!
//! A board's `console_for` is then one call per driver it has, with the board's own `SAFETY`
//! reasoning in the closure that constructs the driver: only the board knows why the address the
//! device tree gave is the UART's and is mapped.
#![forbid(unsafe_code)]

use hyp_arm_serial::SerialPort;

use super::ConsoleUart;
use crate::platform::Uart;

/// A UART driver as the console: writes, reads and receive interrupts go to the driver.
pub struct SerialConsoleUart<U>(pub U);

impl<U: SerialPort + Sync> ConsoleUart for SerialConsoleUart<U> {
    fn write_bytes(&self, bytes: &[u8]) {
        self.0.write_bytes(bytes);
    }

    fn read_byte(&self) -> Option<u8> {
        self.0.try_read_byte()
    }

    fn enable_receive_interrupts(&self) {
        self.0.enable_receive_interrupts();
    }
}

/// The console of one driver type, for a board's `static`: empty until a lookup with a
/// matching `compatible` builds the driver, then that driver for good.
pub struct SerialConsole<U> {
    compatibles: &'static [&'static str],
    uart: spin::Once<SerialConsoleUart<U>>,
}

impl<U: SerialPort + Send + Sync + 'static> SerialConsole<U> {
    /// A console for the UARTs whose `compatible` is one of `compatibles`.
    pub const fn new(compatibles: &'static [&'static str]) -> Self {
        Self {
            compatibles,
            uart: spin::Once::new(),
        }
    }

    /// The console for `uart` if this driver drives it, `None` if its `compatible` is not one of
    /// ours. The first match calls `build` with the UART's register base to construct the
    /// driver, then takes the UART over ([`SerialPort::init`]); later matches return that same
    /// driver and never call `build`.
    pub fn console_for(
        &'static self,
        uart: &Uart,
        build: impl FnOnce(usize) -> U,
    ) -> Option<&'static dyn ConsoleUart> {
        if !self.compatibles.contains(&uart.compatible) {
            return None;
        }
        Some(self.uart.call_once(|| {
            let driver = build(uart.base as usize);
            driver.init();
            SerialConsoleUart(driver)
        }))
    }
}

#[cfg(test)]
mod tests;

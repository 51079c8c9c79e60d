//! A UART of the domain's own as its console: a Cadence UART (`xlnx,zynqmp-uart`,
//! `cdns,uart-r1p12`) that hyp-arm passed through, which the domain drives itself instead of
//! calling CONSOLE_WRITE. On the ZCU102 that is uart1 (/axi/serial@ff010000), so the secure
//! domain's output never shares a wire with android's.

use core::sync::atomic::{AtomicU64, Ordering};

use hyp_arm_cadence_uart::CadenceUart;
use hyp_arm_serial::SerialPort as _;

/// The adopted UART's register frame, or 0 while the console is the hypercall.
static BASE: AtomicU64 = AtomicU64::new(0);

/// Takes over the Cadence UART at `base` (8N1, the firmware's baud rate) and makes it the
/// console from now on.
///
/// # Safety
///
/// `base` is the 4 KiB-aligned address of a Cadence UART the domain owns, mapped as Device memory
/// (or reachable with the MMU off) for the rest of the program, and driven only through this
/// module.
pub unsafe fn adopt(base: u64) {
    // SAFETY: the caller guarantees a mapped Cadence UART that only this module drives.
    let uart = unsafe { CadenceUart::new(base as usize) };
    uart.init();
    BASE.store(base, Ordering::Release);
}

/// Writes `bytes` to the adopted UART, `\n` as `\r\n` for terminals; `false` (nothing written)
/// if there is none.
pub fn write(bytes: &[u8]) -> bool {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return false;
    }
    // SAFETY: `adopt` stored the address of a mapped Cadence UART that only this module drives;
    // `new` touches no register, and each access below is a single volatile one.
    let uart = unsafe { CadenceUart::new(base as usize) };
    for &byte in bytes {
        if byte == b'\n' {
            uart.write_byte(b'\r');
        }
        uart.write_byte(byte);
    }
    true
}

//! Calls into the firmware below EL2: PSCI and other SMCCC services through SMC.
//!
//! From EL2 an HVC would trap to ourselves, so a host device tree whose PSCI method is "hvc" cannot
//! be served: the boot code reports it instead of calling here.

use core::arch::asm;

/// Makes an SMCCC call with up to three arguments and returns x0.
pub fn call(function: u32, a1: u64, a2: u64, a3: u64) -> u64 {
    let mut x0 = u64::from(function);
    // SAFETY: an SMCCC call to the secure firmware. SMCCC 1.0 firmware may clobber x1-x17, so all
    // of them are declared clobbered; the firmware does not touch our stack or memory.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _, options(nostack)
        );
    }
    x0
}

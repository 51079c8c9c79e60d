//! SMCCC calls (Arm DEN 0028) over the device tree's PSCI conduit, and the function IDs the guest
//! uses: PSCI (DEN 0022) and hyp-arm's own calls (docs/HYPERCALLS.md).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

pub const PSCI_CPU_ON: u64 = 0xc400_0003;
pub const PSCI_AFFINITY_INFO: u64 = 0xc400_0004;
pub const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
pub const HYP_VERSION: u64 = 0xc600_0000;
pub const CONSOLE_WRITE: u64 = 0xc600_0002;
pub const CHANNEL_NOTIFY: u64 = 0xc600_0005;
pub const TRUSTED_TIME_SET: u64 = 0xc600_0006;
/// hyp-arm's highest function number in use (TRUSTED_TIME_SET); the ones above it are unassigned.
pub const HYP_LAST_ASSIGNED: u64 = 0xc600_0006;
/// The most bytes one CONSOLE_WRITE carries.
pub const CONSOLE_WRITE_MAX: usize = 40;

pub const NOT_SUPPORTED: u64 = -1i64 as u64;
pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
pub const DENIED: u64 = -3i64 as u64;

/// Whether calls use SMC rather than HVC (the PSCI node's `method`).
static USE_SMC: AtomicBool = AtomicBool::new(false);

pub fn use_smc(smc: bool) {
    USE_SMC.store(smc, Ordering::Relaxed);
}

/// An SMCCC call with arguments x1-x6; returns x0.
pub fn call(function: u64, arguments: [u64; 6]) -> u64 {
    let result;
    // SAFETY: an SMCCC call may change x0-x17 and nothing else (SMCCC 1.1 2.6); the calls this
    // guest makes touch none of its memory (CPU_ON only with entry points that are refused or
    // do not exist as code, which the caller's checks are about).
    unsafe {
        if USE_SMC.load(Ordering::Relaxed) {
            asm!("smc #0", inout("x0") function => result,
                inout("x1") arguments[0] => _, inout("x2") arguments[1] => _,
                inout("x3") arguments[2] => _, inout("x4") arguments[3] => _,
                inout("x5") arguments[4] => _, inout("x6") arguments[5] => _,
                clobber_abi("C"));
        } else {
            asm!("hvc #0", inout("x0") function => result,
                inout("x1") arguments[0] => _, inout("x2") arguments[1] => _,
                inout("x3") arguments[2] => _, inout("x4") arguments[3] => _,
                inout("x5") arguments[4] => _, inout("x6") arguments[5] => _,
                clobber_abi("C"));
        }
    }
    result
}

/// CONSOLE_WRITE of up to 40 bytes; returns x0.
pub fn console_write(bytes: &[u8]) -> u64 {
    let mut words = [0u64; 5];
    for (index, &byte) in bytes.iter().take(CONSOLE_WRITE_MAX).enumerate() {
        words[index / 8] |= u64::from(byte) << (8 * (index % 8));
    }
    let length = bytes.len().min(CONSOLE_WRITE_MAX) as u64;
    call(
        CONSOLE_WRITE,
        [length, words[0], words[1], words[2], words[3], words[4]],
    )
}

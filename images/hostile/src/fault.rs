//! Catching the faults the probes provoke: the synchronous exception handler records the
//! syndrome and resumes after the faulting instruction, and [`attempt`] tells a caller whether its
//! access faulted.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::console::Line;

/// ESR_EL1 of the last synchronous exception since [`attempt`] cleared it; 0 if none.
static LAST_SYNDROME: AtomicU64 = AtomicU64::new(0);

/// ESR_EL1.EC: data abort taken without a change in exception level (Arm ARM D17.2.37).
pub const EC_DATA_ABORT_SAME_EL: u64 = 0x25;
/// ESR_EL1.EC: an unknown reason, e.g. an undefined instruction (a trapped system register the
/// hypervisor refuses is injected as one).
pub const EC_UNKNOWN: u64 = 0x00;
/// ESR_EL1 ISS.DFSC: synchronous external abort, not on a translation table walk.
pub const DFSC_EXTERNAL_ABORT: u64 = 0x10;

/// How an access ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It completed.
    Completed,
    /// A synchronous external abort: what the hypervisor injects for an address the guest must
    /// not reach.
    ExternalAbort,
    /// Another synchronous exception, with its ESR_EL1 (alignment fault, address size fault,
    /// undefined instruction ...): refused too, but not by the mechanism probed for.
    OtherException(u64),
}

impl Outcome {
    pub fn faulted(self) -> bool {
        self != Outcome::Completed
    }
}

/// Runs `access` (one faulting instruction at most) and says how it ended.
pub fn attempt<T>(access: impl FnOnce() -> T) -> (T, Outcome) {
    LAST_SYNDROME.store(0, Ordering::SeqCst);
    let value = access();
    let syndrome = LAST_SYNDROME.swap(0, Ordering::SeqCst);
    let outcome = if syndrome == 0 {
        Outcome::Completed
    } else if syndrome >> 26 == EC_DATA_ABORT_SAME_EL && syndrome & 0x3f == DFSC_EXTERNAL_ABORT {
        Outcome::ExternalAbort
    } else {
        Outcome::OtherException(syndrome)
    };
    (value, outcome)
}

/// Synchronous exceptions, from the vector table; returns where to resume.
///
/// Data aborts and undefined instructions (both what a refused access produces) are recorded and
/// skipped: every probe is one 4-byte instruction. Anything else means the guest itself is broken.
pub extern "C" fn synchronous_exception(
    syndrome: u64,
    return_address: u64,
    fault_address: u64,
) -> u64 {
    let class = syndrome >> 26;
    if class == EC_DATA_ABORT_SAME_EL || class == EC_UNKNOWN {
        // Never 0: EC_UNKNOWN with an ISS of 0 still has IL (bit 25) set for A64 instructions.
        LAST_SYNDROME.store(syndrome | 1 << 25, Ordering::SeqCst);
        return return_address + 4;
    }
    Line::new()
        .text("HOSTILE-FAIL synchronous exception ESR ")
        .hex(syndrome)
        .text(" ELR ")
        .hex(return_address)
        .text(" FAR ")
        .hex(fault_address)
        .print();
    crate::halt()
}

/// Any other vector: `entry` is its number (Arm ARM D1.10.2).
pub extern "C" fn unexpected_exception(
    entry: u64,
    syndrome: u64,
    return_address: u64,
    fault_address: u64,
) -> ! {
    Line::new()
        .text("HOSTILE-FAIL exception vector ")
        .number(entry)
        .text(" ESR ")
        .hex(syndrome)
        .text(" ELR ")
        .hex(return_address)
        .text(" FAR ")
        .hex(fault_address)
        .print();
    crate::halt()
}

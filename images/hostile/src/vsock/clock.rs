//! Bounds on waiting, from the generic timer's virtual counter (CNTVCT_EL0 at CNTFRQ_EL0 Hz),
//! which EL1 reads directly: the guest polls, and every poll gives up at a deadline.

/// A point in counter time.
pub struct Deadline(u64);

impl Deadline {
    /// `milliseconds` from now.
    pub fn after_ms(milliseconds: u64) -> Deadline {
        let ticks = frequency().saturating_mul(milliseconds) / 1000;
        Deadline(now().saturating_add(ticks))
    }

    pub fn passed(&self) -> bool {
        now() >= self.0
    }
}

fn now() -> u64 {
    let count: u64;
    // SAFETY: reads a system register EL1 may read; no memory is touched.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack))
    };
    count
}

fn frequency() -> u64 {
    let frequency: u64;
    // SAFETY: as in `now`.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack)) };
    frequency
}

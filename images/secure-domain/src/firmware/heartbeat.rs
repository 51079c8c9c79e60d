//! The heartbeat: the EL1 virtual timer armed once a second, its interrupt counted, and the main
//! loop's wait for the next beat in WFI (which the hypervisor traps, so the CPU can run another
//! domain meanwhile).

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0,
};
use hyp_arm_secure_domain::clock::next_deadline;

// Shared with the interrupt handler. Only this CPU runs the domain, and the handler runs with
// interrupts masked, so plain loads and stores suffice (no read-modify-write atomics, which
// would need exclusive-access support the domain does not rely on).
/// The virtual timer's INTID; 0 until `start`.
static TIMER_INTID: AtomicU32 = AtomicU32::new(0);
/// Counter ticks between beats (CNTFRQ_EL0: one second).
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The deadline the timer is armed for.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Beats so far.
static BEATS: AtomicU64 = AtomicU64::new(0);
/// Interrupts other than the timer's and the doorbell's (none are enabled; counted in case one
/// comes anyway).
static OTHER_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// The virtual counter, after every earlier instruction.
pub fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// The counter's frequency in Hz, as firmware (or the hypervisor) set CNTFRQ_EL0.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Arms the virtual timer (interrupt `intid`) one `period` from now.
pub fn start(intid: u32, period: u64) {
    TIMER_INTID.store(intid, Ordering::Relaxed);
    PERIOD.store(period, Ordering::Relaxed);
    let deadline = counter().saturating_add(period);
    DEADLINE.store(deadline, Ordering::Relaxed);
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// The virtual timer's INTID (0 before `start`, which no interrupt handler sees: SGI 0 is not
/// enabled).
pub fn timer_intid() -> u32 {
    TIMER_INTID.load(Ordering::Relaxed)
}

/// From the interrupt handler: re-arms the timer for the next beat, which also lowers its
/// (level-triggered) interrupt before the handler ends it, and counts the beat.
pub fn on_timer_interrupt() {
    let next = next_deadline(
        DEADLINE.load(Ordering::Relaxed),
        PERIOD.load(Ordering::Relaxed),
        counter(),
    );
    DEADLINE.store(next, Ordering::Relaxed);
    CNTV_CVAL_EL0.set(next);
    barrier::isb(barrier::SY);
    BEATS.store(BEATS.load(Ordering::Relaxed) + 1, Ordering::Release);
}

/// From the interrupt handler: an interrupt that is neither the timer's nor the doorbell's.
pub fn on_other_interrupt() {
    OTHER_INTERRUPTS.store(
        OTHER_INTERRUPTS.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
}

/// Interrupts other than the timer's and the doorbell's so far.
pub fn other_interrupts() -> u64 {
    OTHER_INTERRUPTS.load(Ordering::Relaxed)
}

/// Sleeps until the beat count differs from `seen` or `ready` (other work, such as a rung
/// doorbell) holds, and returns the beat count. Interrupts are masked between the checks and
/// WFI, so an interrupt that comes in between still ends the WFI (it wakes on a pending
/// interrupt even while masked) and is taken when they are unmasked again.
pub fn wait_for_beat_or(seen: u64, ready: impl Fn() -> bool) -> u64 {
    loop {
        // SAFETY: masks IRQs at this CPU; no memory is touched.
        unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
        let beats = BEATS.load(Ordering::Acquire);
        let woken = beats != seen || ready();
        if !woken {
            aarch64_cpu::asm::wfi();
        }
        // SAFETY: unmasks IRQs; the vector table and the handler are ready. The ISB makes the
        // pending interrupt be taken here.
        unsafe { asm!("msr daifclr, #2", "isb", options(nomem, nostack)) };
        if woken {
            return beats;
        }
    }
}

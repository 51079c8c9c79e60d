//! The hypervisor's spin lock: `spin::Mutex` whose waiting loop executes YIELD.
//!
//! A CPU that waits for a lock another CPU holds should let that CPU run. On hardware YIELD is
//! only a hint; under QEMU's round-robin TCG (one host thread runs every emulated CPU in turn,
//! as with `-icount`) it ends the waiting CPU's turn. With the default `spin_loop` (ISB) a
//! waiter spun through its whole turn whenever the holder had been switched out inside its
//! critical section, which QEMU does whenever an interrupt is raised for another CPU: on the
//! pinned plan that made android's vCPUs spend most of a keystore request spinning on their
//! vGIC's lock (sampled with QEMU's monitor, docs/BENCHMARKS.md).

/// What a waiter does between two attempts to take the lock.
pub struct YieldToOtherCpus;

impl spin::RelaxStrategy for YieldToOtherCpus {
    #[inline(always)]
    fn relax() {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: YIELD is a hint with no effect on memory, registers or flags.
        unsafe {
            core::arch::asm!("yield", options(nomem, nostack, preserves_flags))
        };
        #[cfg(not(target_arch = "aarch64"))]
        core::hint::spin_loop();
    }
}

/// A spin lock whose waiters yield (see the module's documentation).
pub type Mutex<T> = spin::mutex::Mutex<T, YieldToOtherCpus>;

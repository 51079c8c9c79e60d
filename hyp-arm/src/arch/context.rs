//! A vCPU's EL1 state beyond its general-purpose registers: what must be saved and restored when
//! another vCPU (of another domain) takes over the physical CPU. A pinned vCPU never needs it.
//!
//! The list follows the Arm ARM's EL1 system registers that a guest OS programs (D13: the
//! translation regime, exception handling, thread pointers, timers), plus the FP/SIMD registers:
//! EL2 itself never uses FP (softfloat target), so they only change hands on a switch.

use core::arch::asm;

/// Saved EL1 system registers, FP/SIMD state and virtual timer of one vCPU.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct El1Context {
    system: [u64; SYSTEM_REGISTER_COUNT],
    /// Q0..Q31 as pairs of 64-bit halves.
    fp: [u64; 64],
    fpcr: u64,
    fpsr: u64,
    timer_control: u64,
    timer_compare: u64,
}

/// Reads (`mrs`) every listed register into consecutive slots, or writes them back (`msr`).
macro_rules! system_registers {
    ($($name:literal),* $(,)?) => {
        const SYSTEM_REGISTER_NAMES: &[&str] = &[$($name),*];

        fn save_system(slots: &mut [u64; SYSTEM_REGISTER_COUNT]) {
            let mut index = 0;
            $(
                // SAFETY: reading an EL1 system register at EL2 has no side effects.
                unsafe { asm!(concat!("mrs {}, ", $name), out(reg) slots[index], options(nomem, nostack)) };
                index += 1;
            )*
            let _ = index;
        }

        fn restore_system(slots: &[u64; SYSTEM_REGISTER_COUNT]) {
            let mut index = 0;
            $(
                // SAFETY: these registers only affect EL1/EL0 execution, which is not running
                // while EL2 switches vCPUs; the values are ones this vCPU had.
                unsafe { asm!(concat!("msr ", $name, ", {}"), in(reg) slots[index], options(nomem, nostack)) };
                index += 1;
            )*
            let _ = index;
        }
    };
}

system_registers!(
    "sctlr_el1",
    "ttbr0_el1",
    "ttbr1_el1",
    "tcr_el1",
    "mair_el1",
    "amair_el1",
    "vbar_el1",
    "contextidr_el1",
    "tpidr_el0",
    "tpidrro_el0",
    "tpidr_el1",
    "sp_el0",
    "sp_el1",
    "elr_el1",
    "spsr_el1",
    "esr_el1",
    "far_el1",
    "afsr0_el1",
    "afsr1_el1",
    "par_el1",
    "cpacr_el1",
    "csselr_el1",
    "cntkctl_el1",
    "mdscr_el1",
    // The PMU's global enable: a domain's counters stop while another domain's vCPU runs on
    // its CPU, so they cannot count that domain's events (the counters themselves are shared).
    "pmcr_el0",
);

const SYSTEM_REGISTER_COUNT: usize = 25;
const _: () = assert!(SYSTEM_REGISTER_NAMES.len() == SYSTEM_REGISTER_COUNT);

/// SCTLR_EL1 at reset: the RES1 bits (29, 28, 23, 22, 20, 11), MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

impl El1Context {
    /// The state of a vCPU that has not run yet (MMU off, timer stopped, FP zero).
    pub const fn reset() -> El1Context {
        let mut system = [0; SYSTEM_REGISTER_COUNT];
        system[0] = SCTLR_EL1_RESET;
        El1Context {
            system,
            fp: [0; 64],
            fpcr: 0,
            fpsr: 0,
            timer_control: 0,
            timer_compare: 0,
        }
    }

    /// Saves this CPU's EL1 state and stops its virtual timer (so it cannot fire for whoever
    /// runs next).
    pub fn save(&mut self) {
        save_system(&mut self.system);
        // SAFETY: reads of the FP/SIMD registers into this context's own storage; FP is not
        // trapped at EL2 (CPTR_EL2.TFP = 0).
        unsafe {
            asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{base}, #0]",
                "stp q2, q3, [{base}, #32]",
                "stp q4, q5, [{base}, #64]",
                "stp q6, q7, [{base}, #96]",
                "stp q8, q9, [{base}, #128]",
                "stp q10, q11, [{base}, #160]",
                "stp q12, q13, [{base}, #192]",
                "stp q14, q15, [{base}, #224]",
                "stp q16, q17, [{base}, #256]",
                "stp q18, q19, [{base}, #288]",
                "stp q20, q21, [{base}, #320]",
                "stp q22, q23, [{base}, #352]",
                "stp q24, q25, [{base}, #384]",
                "stp q26, q27, [{base}, #416]",
                "stp q28, q29, [{base}, #448]",
                "stp q30, q31, [{base}, #480]",
                "mrs {fpcr}, fpcr",
                "mrs {fpsr}, fpsr",
                "mrs {control}, cntv_ctl_el0",
                "mrs {compare}, cntv_cval_el0",
                "msr cntv_ctl_el0, xzr",
                "isb",
                base = in(reg) self.fp.as_mut_ptr(),
                fpcr = out(reg) self.fpcr,
                fpsr = out(reg) self.fpsr,
                control = out(reg) self.timer_control,
                compare = out(reg) self.timer_compare,
                options(nostack)
            )
        };
    }

    /// Loads this context into the CPU's EL1 state.
    pub fn restore(&self) {
        restore_system(&self.system);
        // SAFETY: writes of FP/SIMD and virtual-timer registers from this context's own
        // storage, while no EL1 code runs on this CPU.
        unsafe {
            asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{base}, #0]",
                "ldp q2, q3, [{base}, #32]",
                "ldp q4, q5, [{base}, #64]",
                "ldp q6, q7, [{base}, #96]",
                "ldp q8, q9, [{base}, #128]",
                "ldp q10, q11, [{base}, #160]",
                "ldp q12, q13, [{base}, #192]",
                "ldp q14, q15, [{base}, #224]",
                "ldp q16, q17, [{base}, #256]",
                "ldp q18, q19, [{base}, #288]",
                "ldp q20, q21, [{base}, #320]",
                "ldp q22, q23, [{base}, #352]",
                "ldp q24, q25, [{base}, #384]",
                "ldp q26, q27, [{base}, #416]",
                "ldp q28, q29, [{base}, #448]",
                "ldp q30, q31, [{base}, #480]",
                "msr fpcr, {fpcr}",
                "msr fpsr, {fpsr}",
                "msr cntv_cval_el0, {compare}",
                "msr cntv_ctl_el0, {control}",
                "isb",
                base = in(reg) self.fp.as_ptr(),
                fpcr = in(reg) self.fpcr,
                fpsr = in(reg) self.fpsr,
                control = in(reg) self.timer_control,
                compare = in(reg) self.timer_compare,
                options(nostack)
            )
        };
    }

    /// When this (saved) vCPU's virtual timer fires, in system counter ticks (CNTVOFF_EL2 is 0),
    /// if it is enabled and not masked.
    pub fn timer_deadline(&self) -> Option<u64> {
        const ENABLE: u64 = 1;
        const IMASK: u64 = 2;
        (self.timer_control & (ENABLE | IMASK) == ENABLE).then_some(self.timer_compare)
    }
}

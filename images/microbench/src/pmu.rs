//! The hypervisor's own instructions per operation, exactly: PMU event counter 0 counts
//! INST_RETIRED at EL2 only (QEMU counts that event only under a fixed `-icount` shift, where one
//! instruction is one count). Opt-in (`pmu=el2` on the command line): a hypervisor that keeps
//! the PMU from its guests traps these accesses.
use core::arch::asm;

/// The architectural event "instruction architecturally executed".
const INST_RETIRED: u64 = 0x08;
/// PMEVTYPER<n>_EL0 filter bits: do not count at EL1 (P) or EL0 (U); count at EL2 (NSH).
const EXCLUDE_EL1: u64 = 1 << 31;
const EXCLUDE_EL0: u64 = 1 << 30;
const INCLUDE_EL2: u64 = 1 << 27;
/// PMCR_EL0.E: counters enabled.
const PMCR_ENABLE: u64 = 1;

/// Event counter 0, counting instructions at EL2.
pub struct El2Instructions(());

impl El2Instructions {
    /// Programs counter 0; `None` when the CPU has no PMUv3 (ID_AA64DFR0_EL1.PMUVer).
    pub fn start() -> Option<Self> {
        let features: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) features, options(nomem, nostack)) };
        let version = (features >> 8) & 0xf;
        if version == 0 || version == 0xf {
            return None;
        }
        let event = INST_RETIRED | EXCLUDE_EL1 | EXCLUDE_EL0 | INCLUDE_EL2;
        // SAFETY: programs and enables PMU counter 0, which nothing else here uses.
        unsafe {
            asm!(
                "msr pmevtyper0_el0, {event}",
                "msr pmevcntr0_el0, xzr",
                "msr pmcntenset_el0, {counter0}",
                "mrs {pmcr}, pmcr_el0",
                "orr {pmcr}, {pmcr}, {enable}",
                "msr pmcr_el0, {pmcr}",
                "isb",
                event = in(reg) event,
                counter0 = in(reg) 1u64,
                enable = in(reg) PMCR_ENABLE,
                pmcr = out(reg) _,
                options(nomem, nostack),
            )
        };
        Some(Self(()))
    }

    /// The count so far (a 32-bit counter: callers take differences with `wrapping_sub`).
    pub fn read(&self) -> u32 {
        let count: u64;
        // SAFETY: reading counter 0, programmed by `start`.
        unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) count, options(nomem, nostack)) };
        count as u32
    }
}

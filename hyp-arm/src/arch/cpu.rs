//! EL2 system register set-up and the small CPU operations the hypervisor needs: guest traps,
//! exception injection registers, TLB and cache maintenance, events.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::arch::asm;

/// The exception level the CPU is running at.
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Installs the hypervisor's vector table on this CPU.
pub fn install_vectors() {
    let vectors = core::ptr::addr_of!(super::entry::hyp_vectors) as u64;
    VBAR_EL2.set(vectors);
    barrier::isb(barrier::SY);
}

/// This CPU's MPIDR_EL1 affinity fields (Aff3..Aff0), without the flag bits.
pub fn mpidr_affinity() -> u64 {
    MPIDR_EL1.get() & super::entry::MPIDR_AFFINITY_MASK
}

/// The physical address size the CPU implements, in bits.
pub fn physical_address_bits() -> u32 {
    crate::mm::page_table::physical_address_bits(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange))
}

/// The PARange field itself (for TCR_EL2.PS / VTCR_EL2.PS).
pub fn physical_address_range_field() -> u64 {
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange)
}

/// Remembers this CPU's logical index (TPIDR_EL2 is invisible to guests).
pub fn set_cpu_index(index: usize) {
    TPIDR_EL2.set(index as u64);
}

/// This CPU's logical index as set by `set_cpu_index`.
pub fn cpu_index() -> usize {
    TPIDR_EL2.get() as usize
}

/// Configures this CPU to run guests: EL1 is AArch64, physical IRQ/FIQ/SError go to EL2 (so the
/// GIC's virtual CPU interface signals the guest), SMC traps (PSCI goes through us), stage-2 on,
/// and the guest sees the real CPU's MIDR. With `trap_wait_for_interrupt` (vCPUs share this
/// CPU), a guest's WFI traps so that the CPU can run another vCPU meanwhile.
pub fn configure_guest_traps(trap_wait_for_interrupt: bool) {
    HCR_EL2.write(
        HCR_EL2::RW::EL1IsAarch64
            + HCR_EL2::VM::Enable
            + HCR_EL2::SWIO::SET
            + HCR_EL2::FMO::EnableVirtualFIQ
            + HCR_EL2::IMO::EnableVirtualIRQ
            + HCR_EL2::AMO::SET
            + HCR_EL2::FB::SET
            + HCR_EL2::BSU::InnerShareable
            + HCR_EL2::TSC::EnableTrapEl1SmcToEl2
            + HCR_EL2::TWI.val(u64::from(trap_wait_for_interrupt)),
    );
    // EL1 may read the physical counter but not use the physical timer: that timer belongs to
    // the physical CPU, which domains may share; each vCPU has its own virtual timer (saved and
    // restored with it). Accesses to CNTP_* trap and are refused.
    CNTHCTL_EL2.write(CNTHCTL_EL2::EL1PCEN::CLEAR + CNTHCTL_EL2::EL1PCTEN::SET);
    CNTVOFF_EL2.set(0);
    // No FP/SIMD traps: EL2 itself never touches FP registers (softfloat target).
    CPTR_EL2.set(0x33ff);
    // Give the guest every PMU counter; no debug or PMU traps. Where the CPU can (PMUv3 for
    // Armv8.1 and later), a guest may not count events at EL2: the hypervisor's work is not its
    // to observe. Cortex-A57's PMU (Armv8.0) has no such control.
    let counters = (PMCR_EL0.read() >> 11) & 0x1f;
    let pmu_version = (ID_AA64DFR0_EL1.get() >> 8) & 0xf;
    let prohibit_el2_counting =
        if (PMU_VERSION_V8_1..PMU_IMPLEMENTATION_DEFINED).contains(&pmu_version) {
            MDCR_EL2_HPMD
        } else {
            0
        };
    MDCR_EL2.set(counters | prohibit_el2_counting);
    let midr = MIDR_EL1.get();
    // SAFETY: VPIDR_EL2 only changes what EL1 reads from MIDR_EL1.
    unsafe { asm!("msr vpidr_el2, {}", in(reg) midr, options(nomem, nostack)) };
    barrier::isb(barrier::SY);
}

/// ID_AA64DFR0_EL1.PMUVer values: PMUv3 for Armv8.1 (which adds MDCR_EL2.HPMD), and
/// "implementation defined" (not PMUv3).
const PMU_VERSION_V8_1: u64 = 0x4;
const PMU_IMPLEMENTATION_DEFINED: u64 = 0xf;
/// MDCR_EL2.HPMD: no event counting at EL2.
const MDCR_EL2_HPMD: u64 = 1 << 17;

/// PMCR_EL0, read-only use (aarch64-cpu has no accessor for it).
struct PmcrEl0;
const PMCR_EL0: PmcrEl0 = PmcrEl0;
impl PmcrEl0 {
    fn read(&self) -> u64 {
        let value: u64;
        // SAFETY: reading PMCR_EL0 at EL2 has no side effects.
        unsafe { asm!("mrs {}, pmcr_el0", out(reg) value, options(nomem, nostack)) };
        value
    }
}

/// Selects the stage-2 translation of the domain about to run on this CPU. VMIDs differ between
/// domains, so no TLB maintenance is needed on a switch.
pub fn set_stage2(vttbr: u64, vtcr: u64) {
    VTCR_EL2.set(vtcr);
    VTTBR_EL2.set(vttbr);
    barrier::isb(barrier::SY);
}

/// Sets the MPIDR the guest's vCPU reads: Aff0 = `vcpu`, bit 31 RES1.
pub fn set_guest_mpidr(vcpu: usize) {
    VMPIDR_EL2.set((1 << 31) | (vcpu as u64 & 0xff));
}

/// The system counter, in ticks.
pub fn counter_ticks() -> u64 {
    CNTPCT_EL0.get()
}

/// The system counter's frequency in Hz, as the firmware set CNTFRQ_EL0.
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Arms the EL2 physical timer (CNTHP) to interrupt at `deadline` ticks, or stops it. The
/// scheduler uses it to wake a descheduled vCPU whose virtual timer expires.
pub fn set_hypervisor_timer(deadline: Option<u64>) {
    match deadline {
        Some(deadline) => {
            // SAFETY: CNTHP_CVAL_EL2 only sets when the EL2 timer fires (aarch64-cpu has no
            // accessor for it).
            unsafe { asm!("msr cnthp_cval_el2, {}", in(reg) deadline, options(nomem, nostack)) };
            CNTHP_CTL_EL2.write(CNTHP_CTL_EL2::ENABLE::SET + CNTHP_CTL_EL2::IMASK::CLEAR);
        }
        None => CNTHP_CTL_EL2.set(0),
    }
    barrier::isb(barrier::SY);
}

/// Whether the virtual timer currently loaded on this CPU has fired (enabled, unmasked, and its
/// condition met).
pub fn virtual_timer_fired() -> bool {
    CNTV_CTL_EL0.matches_all(
        CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR + CNTV_CTL_EL0::ISTATUS::SET,
    )
}

/// Puts the guest-visible EL1 state into its reset values before a vCPU (re)starts: MMU and
/// caches off, timers stopped, so nothing from a previous boot of the guest leaks into the next.
pub fn reset_guest_el1_state() {
    // SCTLR_EL1 RES1 bits (29, 28, 23, 22, 20, 11) with M, C and I clear.
    SCTLR_EL1.set(0x30d0_0800);
    CNTV_CTL_EL0.set(0);
    CNTP_CTL_EL0.set(0);
    CNTKCTL_EL1.set(0);
    barrier::isb(barrier::SY);
}

/// The syndrome of the exception just taken from the guest: (ESR_EL2, FAR_EL2, HPFAR_EL2).
pub fn exit_syndrome() -> (u64, u64, u64) {
    (ESR_EL2.get(), FAR_EL2.get(), HPFAR_EL2.get())
}

/// Reads VBAR_EL1 for exception injection.
pub fn guest_vector_base() -> u64 {
    VBAR_EL1.get()
}

/// Writes the EL1 registers that describe a synchronous exception being taken by the guest.
pub fn set_guest_exception_registers(esr: u64, far: u64, return_address: u64, saved_pstate: u64) {
    ESR_EL1.set(esr);
    FAR_EL1.set(far);
    ELR_EL1.set(return_address);
    SPSR_EL1.set(saved_pstate);
}

/// Invalidates every stage-1 and stage-2 TLB entry of the current VMID, on all CPUs.
pub fn invalidate_guest_tlbs() {
    // SAFETY: TLB maintenance only discards cached translations.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalls12e1is",
            "dsb ish",
            "isb",
            options(nostack)
        )
    };
}

/// Invalidates the whole instruction cache to the point of unification (after writing guest code).
pub fn invalidate_instruction_cache() {
    // SAFETY: instruction-cache invalidation has no effect on data.
    unsafe { asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}

/// Cleans and invalidates `[start, start + length)` to the point of coherency, so that a CPU with
/// its MMU (and so its caches) still off sees what we wrote.
pub fn clean_to_point_of_coherency(start: usize, length: usize) {
    const LINE: usize = 64;
    let mut address = start & !(LINE - 1);
    while address < start + length {
        // SAFETY: cache maintenance by address does not change memory contents.
        unsafe { asm!("dc civac, {}", in(reg) address, options(nostack)) };
        address += LINE;
    }
    barrier::dsb(barrier::SY);
}

/// Zeroes `[start, start + length)`: 128 bytes per loop iteration with paired stores of the zero
/// register (under QEMU's TCG this is several times faster than DC ZVA, whose helper is slow;
/// on hardware both stream at memory bandwidth). Unaligned edges are cleared byte by byte.
///
/// # Safety
/// The range must be writable normal memory that nothing else uses while it is cleared.
pub unsafe fn zero_memory(start: usize, length: usize) {
    const CHUNK: usize = 128;
    let end = start + length;
    let aligned_start = (start + CHUNK - 1) & !(CHUNK - 1);
    let aligned_end = end & !(CHUNK - 1);
    if aligned_start >= aligned_end {
        // SAFETY: the caller guarantees the range is writable.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, length) };
        return;
    }
    // SAFETY: the head of the caller's range.
    unsafe { core::ptr::write_bytes(start as *mut u8, 0, aligned_start - start) };
    // SAFETY: [aligned_start, aligned_end) is inside the caller's range, 128-byte aligned, and a
    // multiple of 128 bytes long.
    unsafe {
        asm!(
            "2:",
            "stp xzr, xzr, [{address}, #0]",
            "stp xzr, xzr, [{address}, #16]",
            "stp xzr, xzr, [{address}, #32]",
            "stp xzr, xzr, [{address}, #48]",
            "stp xzr, xzr, [{address}, #64]",
            "stp xzr, xzr, [{address}, #80]",
            "stp xzr, xzr, [{address}, #96]",
            "stp xzr, xzr, [{address}, #112]",
            "add {address}, {address}, #128",
            "cmp {address}, {end}",
            "b.lo 2b",
            address = inout(reg) aligned_start => _,
            end = in(reg) aligned_end,
            options(nostack)
        )
    };
    // SAFETY: the tail of the caller's range.
    unsafe { core::ptr::write_bytes(aligned_end as *mut u8, 0, end - aligned_end) };
    barrier::dsb(barrier::ISH);
}

/// Copies `length` bytes from `source` to `destination`, 64 bytes per loop iteration with
/// paired loads and stores where both are 16-byte aligned (the compiler's memcpy must assume
/// nothing and, with strict alignment, goes byte by byte: seconds for a kernel image under TCG).
///
/// # Safety
/// Both ranges must be normal memory, readable and writable respectively, and must not overlap.
pub unsafe fn copy_memory(destination: usize, source: usize, length: usize) {
    const CHUNK: usize = 64;
    let bulk = if (destination | source).is_multiple_of(16) {
        length & !(CHUNK - 1)
    } else {
        0
    };
    if bulk > 0 {
        // SAFETY: [source, source + bulk) and [destination, destination + bulk) are inside the
        // caller's ranges, 16-byte aligned, and `bulk` is a multiple of 64.
        unsafe {
            asm!(
                "2:",
                "ldp {a}, {b}, [{source}], #16",
                "ldp {c}, {d}, [{source}], #16",
                "stp {a}, {b}, [{destination}], #16",
                "stp {c}, {d}, [{destination}], #16",
                "ldp {a}, {b}, [{source}], #16",
                "ldp {c}, {d}, [{source}], #16",
                "stp {a}, {b}, [{destination}], #16",
                "stp {c}, {d}, [{destination}], #16",
                "cmp {source}, {end}",
                "b.lo 2b",
                source = inout(reg) source => _,
                destination = inout(reg) destination => _,
                end = in(reg) source + bulk,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                options(nostack)
            )
        };
    }
    // SAFETY: the tail (or everything, when unaligned) of the caller's non-overlapping ranges.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (source + bulk) as *const u8,
            (destination + bulk) as *mut u8,
            length - bulk,
        )
    };
}

/// Microseconds since the system counter started (power-on on QEMU and most boards).
pub fn counter_microseconds() -> u64 {
    let frequency = CNTFRQ_EL0.get().max(1);
    let ticks = CNTPCT_EL0.get();
    // u128: ticks * 1_000_000 overflows u64 after about five hours at 1 GHz.
    (u128::from(ticks) * 1_000_000 / u128::from(frequency)) as u64
}

/// Sleeps until an interrupt is pending, even a masked one (Arm ARM D1.16.2: WFI wake-up events).
/// QEMU halts a CPU in WFI, whereas WFE only yields, so idle CPUs wait here.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

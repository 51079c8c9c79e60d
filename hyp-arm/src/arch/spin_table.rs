//! Releasing a secondary CPU that the firmware parks in a spin table (booting.rst, section 5):
//! the CPU waits in WFE with its MMU off, reading its `cpu-release-addr` until it is non-zero,
//! then jumps there at EL2. hyp-arm writes `hyp_spin_table_entry`, which finds the CPU's logical
//! index from MPIDR_EL1 in [`entry::HYP_CPU_AFFINITIES`] (a spin-table CPU gets no argument).

use core::sync::atomic::Ordering;

use super::cpu;
use super::entry::{self, HYP_CPU_AFFINITIES, MAX_PHYSICAL_CPUS};

/// Publishes the logical CPU numbering to CPUs that will enter with their MMU (and so their data
/// caches) off: written through the cache, then cleaned to the point of coherency.
pub fn publish_cpu_affinities(affinities: &[u64]) {
    for (slot, &affinity) in HYP_CPU_AFFINITIES
        .iter()
        .zip(affinities.iter().take(MAX_PHYSICAL_CPUS))
    {
        slot.store(affinity, Ordering::Relaxed);
    }
    cpu::clean_to_point_of_coherency(
        HYP_CPU_AFFINITIES.as_ptr() as usize,
        core::mem::size_of_val(&HYP_CPU_AFFINITIES),
    );
}

/// Writes hyp-arm's spin-table entry into the release word at `release_address`, makes it
/// visible to a CPU with its caches off, and wakes the CPUs waiting in WFE.
///
/// # Safety
/// `release_address` must be an 8-byte aligned physical address of RAM that the EL2 map covers
/// (identity-mapped, normal memory), that no guest is given and that nothing else of hyp-arm
/// uses: the firmware's spin table (`platform::secondary::plan_secondaries` checks all of this
/// against the device tree). `publish_cpu_affinities` must have run first.
pub unsafe fn release(release_address: u64) {
    let entry_point = entry::hyp_spin_table_entry as *const () as u64;
    let word = release_address as usize as *mut u64;
    // SAFETY: the caller guarantees an aligned, mapped, otherwise unused RAM word; the waiting
    // CPU only reads it. The word is little-endian (booting.rst), as is hyp-arm.
    unsafe { word.write_volatile(entry_point.to_le()) };
    // The waiting CPU reads with its MMU off (non-cacheable): clean to the point of coherency
    // (which ends with DSB SY, so the write is complete before the event).
    cpu::clean_to_point_of_coherency(word as usize, core::mem::size_of::<u64>());
    aarch64_cpu::asm::sev();
}

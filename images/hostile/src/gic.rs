//! GIC misuse: programming SPIs the guest does not own, SGIs to vCPUs it does not have, and
//! accesses past, between and across the distributor's registers. Register offsets: GICv2
//! (Arm IHI 0048B, 4.1.2) and GICv3 (Arm IHI 0069H, 12.9).

use core::arch::asm;

use crate::access::{read16, read32, read64, write32, write64, write8, write_pair32};
use crate::fault;
use crate::machine::{GicVersion, Machine};
use crate::tally;

const GICD_TYPER: u64 = 0x004;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ISPENDR: u64 = 0x200;
const GICD_ICPENDR: u64 = 0x280;
const GICD_ISACTIVER: u64 = 0x300;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_SGIR: u64 = 0xf00;
const GICD_CPENDSGIR: u64 = 0xf10;
const GICD_SPENDSGIR: u64 = 0xf20;
const GICD_IROUTER: u64 = 0x6000;
/// GICv3: the redistributor's SGI frame, and its pending registers.
const GICR_SGI_FRAME: u64 = 0x1_0000;
const GICR_ISPENDR0: u64 = GICR_SGI_FRAME + 0x200;
const GICR_ICPENDR0: u64 = GICR_SGI_FRAME + 0x280;
/// Reserved distributor offsets (RAZ/WI or refused): GICv2 0xF30-0xFCC; GICv3 0x8000-0xBFFC and
/// 0xF000 (between the extended ranges and the ID registers).
const RESERVED_V2: [u64; 2] = [0xf40, 0xf80];
const RESERVED_V3: [u64; 3] = [0x8000, 0xa000, 0xf000];
/// The SGI sent to vCPUs that do not exist.
const PROBE_SGI: u32 = 7;

/// Runs every GIC check.
pub fn misuse(machine: &Machine) {
    let distributor = machine.distributor.base;
    let (typer, _) = read32(distributor + GICD_TYPER);
    let lines = ((typer & 0x1f) + 1) * 32;
    let lines = lines.min(1020);
    for intid in 32..lines {
        if !machine.owns_interrupt(intid) {
            foreign_spi(machine, intid);
        }
    }
    foreign_sgis(machine);
    odd_accesses(machine, lines);
}

/// Everything a guest could do to one SPI it does not own; each must leave no trace.
fn foreign_spi(machine: &Machine, intid: u32) {
    let distributor = machine.distributor.base;
    let word = u64::from(intid / 32) * 4;
    let bit = 1u32 << (intid % 32);
    for (what, set, clear) in [
        ("gicd-isenabler", GICD_ISENABLER, GICD_ICENABLER),
        ("gicd-ispendr", GICD_ISPENDR, GICD_ICPENDR),
        ("gicd-isactiver", GICD_ISACTIVER, GICD_ICACTIVER),
    ] {
        let address = distributor + set + word;
        write32(address, bit);
        let (after, outcome) = read32(address);
        tally::record(what, address, !outcome.faulted() && after & bit != 0);
        write32(distributor + clear + word, bit);
    }

    let byte = u64::from(intid);
    let address = distributor + GICD_IPRIORITYR + (byte & !3);
    byte_field(address, byte & 3, 0xa0, "gicd-ipriorityr");
    match machine.gic_version {
        GicVersion::V2 => {
            let address = distributor + GICD_ITARGETSR + (byte & !3);
            byte_field(address, byte & 3, 0x01, "gicd-itargetsr");
        }
        GicVersion::V3 => {
            let address = distributor + GICD_IROUTER + 8 * u64::from(intid);
            let (before, _) = read64(address);
            write64(address, before ^ 1);
            let (after, outcome) = read64(address);
            tally::record(
                "gicd-irouter",
                address,
                !outcome.faulted() && after != before,
            );
            write64(address, before);
        }
    }
}

/// Writes `value` into byte `lane` of the 32-bit register at `address` (a 32-bit access, as the
/// other bytes belong to other interrupts) and checks that it did not stick.
fn byte_field(address: u64, lane: u64, value: u32, what: &str) {
    let shift = lane * 8;
    let (before, _) = read32(address);
    write32(address, before & !(0xff << shift) | value << shift);
    let (after, outcome) = read32(address);
    let changed = (after ^ before) >> shift & 0xff != 0;
    tally::record(what, address + lane, !outcome.faulted() && changed);
    write32(address, before);
}

/// SGIs to vCPUs the guest does not have: nothing may become pending at this vCPU (the only one
/// it can see), and the guest must survive.
fn foreign_sgis(machine: &Machine) {
    let cpus = machine.cpu_count.max(1);
    match machine.gic_version {
        GicVersion::V2 => {
            let distributor = machine.distributor.base;
            let absent = !((1u32 << cpus.min(8)) - 1) & 0xff;
            // Target list of absent CPUs; "all but self"; the reserved filter value 3.
            for (filter, targets) in [(0u32, absent), (1, 0), (3, 0xff)] {
                let clear = distributor + GICD_CPENDSGIR + u64::from(PROBE_SGI & !3);
                write32(clear, 0xffff_ffff);
                let address = distributor + GICD_SGIR;
                let outcome = write32(address, filter << 24 | targets << 16 | PROBE_SGI);
                let pending = distributor + GICD_SPENDSGIR + u64::from(PROBE_SGI & !3);
                let (sources, _) = read32(pending);
                let own = sources >> ((PROBE_SGI & 3) * 8) & 0xff;
                // None of the three may reach this vCPU: absent targets, "all but self", and the
                // reserved filter 3, for which no SGI at all is the only right answer.
                tally::record("gicd-sgir", address, !outcome.faulted() && own != 0);
            }
        }
        GicVersion::V3 => {
            enable_system_registers();
            let redistributor = machine.gic_cpu_side.base;
            let absent_targets = if cpus >= 16 {
                0
            } else {
                !((1u64 << cpus) - 1) & 0xffff
            };
            let sgi = u64::from(PROBE_SGI) << 24;
            for value in [
                sgi | absent_targets,
                sgi | 1 << 16 | 0xffff,
                sgi | 0xff << 48 | 0xff << 32 | 0xffff,
                sgi | 1 << 40,
            ] {
                write32(redistributor + GICR_ICPENDR0, 1 << PROBE_SGI);
                let (_, outcome) = fault::attempt(|| {
                    // SAFETY: ICC_SGI1R_EL1 only raises interrupts (if the hypervisor lets it);
                    // a trap the hypervisor refuses comes back as an undefined instruction, which
                    // the vector table skips.
                    unsafe {
                        asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack))
                    };
                });
                let (pending, _) = read32(redistributor + GICR_ISPENDR0);
                let leaked = !outcome.faulted() && pending & 1 << PROBE_SGI != 0;
                // Only the IRM form (bit 40, "all but self") may not reach this vCPU either.
                tally::record("icc-sgi1r", value, leaked);
            }
        }
    }
}

/// ICC_SRE_EL1.SRE: the GICv3 CPU interface through system registers.
fn enable_system_registers() {
    // SAFETY: sets the system-register enable of this CPU's GIC interface; no memory is touched.
    unsafe {
        asm!("mrs {value}, icc_sre_el1", "orr {value}, {value}, #1", "msr icc_sre_el1, {value}",
            "isb", value = out(reg) _, options(nostack));
    }
}

/// Reserved registers, the word after the distributor's window, misaligned, byte, halfword,
/// doubleword and pair accesses: each either faults or leaves no trace, and none stops the guest.
fn odd_accesses(machine: &Machine, lines: u32) {
    let distributor = machine.distributor.base;
    let reserved: &[u64] = match machine.gic_version {
        GicVersion::V2 => &RESERVED_V2,
        GicVersion::V3 => &RESERVED_V3,
    };
    for &offset in reserved {
        let address = distributor + offset;
        write32(address, 0xffff_ffff);
        let (value, outcome) = read32(address);
        tally::record("gicd-reserved", address, !outcome.faulted() && value != 0);
    }
    let past = machine.distributor.end;
    if !machine.owns_address(past) {
        let (_, outcome) = read32(past);
        tally::record("gicd-past-end", past, !outcome.faulted());
    }

    // A foreign SPI to aim the enable-register tricks at.
    let Some(foreign) = (32..lines).find(|&intid| !machine.owns_interrupt(intid)) else {
        return;
    };
    let word = distributor + GICD_ISENABLER + u64::from(foreign / 32) * 4;
    let bit = 1u32 << (foreign % 32);
    let enabled = |what: &str, address: u64| {
        let (value, outcome) = read32(word);
        tally::record(what, address, !outcome.faulted() && value & bit != 0);
        write32(
            distributor + GICD_ICENABLER + u64::from(foreign / 32) * 4,
            bit,
        );
    };
    // Misaligned 32-bit write straddling the register.
    let misaligned = word + 2;
    write32(misaligned, 0xffff_ffff);
    enabled("gicd-misaligned-write", misaligned);
    // A byte write to a word-only register.
    let byte = word + u64::from(foreign % 32 / 8);
    write8(byte, 0xff);
    enabled("gicd-byte-write", byte);
    // A pair store: no instruction syndrome for the hypervisor to emulate from.
    let pair = word & !7;
    write_pair32(pair, 0xffff_ffff, 0xffff_ffff);
    enabled("gicd-pair-write", pair);
    // A 64-bit write across two enable registers.
    write64(pair, u64::MAX);
    enabled("gicd-doubleword-write", pair);
    // Reads of odd widths must merely not stop the guest.
    read16(distributor + GICD_TYPER);
    read64(distributor + GICD_TYPER);
    crate::access::read8(distributor + GICD_TYPER + 1);
}

//! Linux's GICv3 driver (irq-gic-v3.c) bringing up the vGIC, then SGIs and the timer.
#![forbid(unsafe_code)]

use super::*;

const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_TYPER2: u64 = 0x000C;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_ICACTIVER: u64 = 0x0380;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0C00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_PIDR2: u64 = 0xFFE8;
const GICD_CTLR_ENABLE_G1: u32 = 1 << 0;
const GICD_CTLR_ENABLE_G1A: u32 = 1 << 1;
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
const GICD_CTLR_DS: u32 = 1 << 6;
const GICD_CTLR_RWP: u32 = 1 << 31;

const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_PIDR2: u64 = 0xFFE8;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const SGI_BASE: u64 = 0x1_0000;

/// What Linux does at boot on the boot CPU (gic_init_bases, gic_dist_init).
fn distributor_init(guest: &mut Guest) {
    // gic_validate_dist_version
    assert_eq!(guest.gicd_read(GICD_PIDR2) & 0xF0, 0x30);
    let typer = guest.gicd_read(GICD_TYPER);
    assert_eq!(typer & 0x1F, 2, "ITLinesNumber for 96 INTIDs");
    assert_eq!((typer >> 19) & 0x1F, 9, "IDbits: 10 bits");
    assert_eq!(
        typer & (1 << 17 | 1 << 16 | 1 << 10),
        0,
        "no LPIs, MBIS, security extension"
    );
    assert_eq!(guest.gicd_read(GICD_IIDR) & 0xFFF, 0x43B);
    assert_eq!(guest.gicd_read(GICD_TYPER2), 0);
    // gic_dist_init
    guest.gicd_write(GICD_CTLR, 0);
    assert_eq!(guest.gicd_read(GICD_CTLR) & GICD_CTLR_RWP, 0);
    for intid in (32..96).step_by(32) {
        guest.gicd_write(GICD_IGROUPR + intid / 8, !0);
    }
    // gic_dist_config
    for intid in (32..96).step_by(16) {
        guest.gicd_write(GICD_ICFGR + intid / 4, 0);
    }
    for intid in (32..96).step_by(4) {
        guest.gicd_write(GICD_IPRIORITYR + intid, 0xA0A0_A0A0);
    }
    for intid in (32..96).step_by(32) {
        guest.gicd_write(GICD_ICACTIVER + intid / 8, !0);
        guest.gicd_write(GICD_ICENABLER + intid / 8, !0);
    }
    guest.gicd_write(
        GICD_CTLR,
        GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1,
    );
    let control = guest.gicd_read(GICD_CTLR);
    assert_eq!(control & GICD_CTLR_RWP, 0);
    assert_ne!(control & GICD_CTLR_ARE_NS, 0);
    assert_ne!(control & GICD_CTLR_DS, 0);
    assert_ne!(control & GICD_CTLR_ENABLE_G1A, 0);
    for intid in 32..96 {
        guest.gicd_write64(GICD_IROUTER + 8 * intid, 0);
    }
}

/// gic_iterate_rdists: read GICR_PIDR2 and GICR_TYPER frame after frame until Last. Returns
/// the affinities found.
fn redistributor_walk(guest: &Guest) -> Vec<u64> {
    let mut affinities = Vec::new();
    let mut offset = 0;
    loop {
        assert_eq!(guest.gicr_read(offset + GICR_PIDR2) & 0xF0, 0x30);
        let typer = guest.gicr_read64(offset + GICR_TYPER);
        assert_eq!(typer & 1, 0, "no physical LPIs");
        affinities.push(typer >> 32);
        assert_eq!(
            (typer >> 8) & 0xFFFF,
            affinities.len() as u64 - 1,
            "Processor_Number"
        );
        if typer & GICR_TYPER_LAST != 0 {
            return affinities;
        }
        offset += REDISTRIBUTOR_STRIDE;
        assert!(affinities.len() <= MAX_VCPUS, "no Last bit");
    }
}

/// What each CPU does for its own redistributor (gic_enable_redist, gic_cpu_init), then the
/// IPIs and the timer are enabled.
fn cpu_init(guest: &mut Guest) {
    let rd = guest.vcpu as u64 * REDISTRIBUTOR_STRIDE;
    let waker = guest.gicr_read(rd + GICR_WAKER);
    assert_eq!(
        waker & GICR_WAKER_PROCESSOR_SLEEP,
        GICR_WAKER_PROCESSOR_SLEEP,
        "reset value"
    );
    guest.gicr_write(rd + GICR_WAKER, waker & !GICR_WAKER_PROCESSOR_SLEEP);
    assert_eq!(
        guest.gicr_read(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP,
        0
    );
    let sgi = rd + SGI_BASE;
    guest.gicr_write(sgi + GICD_IGROUPR, !0);
    guest.gicr_write(sgi + GICD_ICACTIVER, !0);
    guest.gicr_write(sgi + GICD_ICENABLER, !0);
    for intid in (0..32).step_by(4) {
        guest.gicr_write(sgi + GICD_IPRIORITYR + intid, 0xA0A0_A0A0);
    }
    // gic_unmask_irq: IPIs 0..=7, then the virtual timer.
    guest.gicr_write(sgi + GICD_ISENABLER, 0xFF);
    guest.gicr_write(sgi + GICD_ISENABLER, 1 << TIMER_PPI);
}

fn boot(vcpu_count: usize) -> Box<Vgic> {
    boot_with(super::config(GicVersion::V3, vcpu_count))
}

/// Linux's bring-up of every vCPU on a vGIC configured with `config`.
fn boot_with(config: VgicConfig) -> Box<Vgic> {
    let vcpu_count = config.vcpu_count;
    let mut vgic = Box::new(Vgic::new(&config).unwrap());
    let mut boot_cpu = Guest::new(&mut vgic, 0);
    distributor_init(&mut boot_cpu);
    let affinities = redistributor_walk(&boot_cpu);
    assert_eq!(affinities, (0..vcpu_count as u64).collect::<Vec<_>>());
    boot_cpu.physical.assert_only_owned();
    for vcpu in 0..vcpu_count {
        let mut cpu = Guest::new(&mut vgic, vcpu);
        cpu_init(&mut cpu);
        assert!(cpu.physical.effects.contains(&Effect::Enabled(
            PhysicalInterrupt::Private {
                vcpu,
                intid: TIMER_PPI
            },
            true
        )));
        cpu.physical.assert_only_owned();
    }
    vgic
}

#[test]
fn boot_with_one_vcpu() {
    boot(1);
}

#[test]
fn boot_with_four_vcpus() {
    let vgic = boot(4);
    // A 32-bit read of either half of GICR_TYPER works too.
    let guest_vcpu = 0;
    let third = 2 * REDISTRIBUTOR_STRIDE;
    assert_eq!(vgic.redistributor_read(guest_vcpu, third + 0xC, 4), Ok(2));
    assert_eq!(
        vgic.redistributor_read(guest_vcpu, third + 0x8, 4),
        Ok(2 << 8)
    );
    let last = 3 * REDISTRIBUTOR_STRIDE;
    assert_eq!(
        vgic.redistributor_read(guest_vcpu, last + 0x8, 4),
        Ok(3 << 8 | GICR_TYPER_LAST)
    );
    // Past the last redistributor there is nothing.
    assert_eq!(
        vgic.redistributor_read(guest_vcpu, 4 * REDISTRIBUTOR_STRIDE + 0x8, 8),
        Err(VgicAccessError::OffsetOutOfRange {
            offset: 4 * REDISTRIBUTOR_STRIDE + 0x8
        })
    );
}

#[test]
fn boot_programs_the_passed_through_spi() {
    let mut vgic = vgic(GicVersion::V3, 2);
    let mut guest = Guest::new(&mut vgic, 0);
    distributor_init(&mut guest);
    let spi = PhysicalInterrupt::Shared {
        intid: HARDWARE_SPI,
    };
    for expected in [
        Effect::Trigger(spi, Trigger::Level),
        Effect::Active(spi, false),
        Effect::Enabled(spi, false),
        Effect::Route(HARDWARE_SPI, 0),
    ] {
        assert!(guest.physical.effects.contains(&expected), "{expected:?}");
    }
    // Linux's irq_set_affinity to CPU 1, then enable.
    guest.physical.effects.clear();
    guest.gicd_write64(GICD_IROUTER + 8 * u64::from(HARDWARE_SPI), 1);
    guest.gicd_write(GICD_ISENABLER + 4, 1 << (HARDWARE_SPI - 32));
    assert_eq!(
        guest.physical.effects,
        [Effect::Route(HARDWARE_SPI, 1), Effect::Enabled(spi, true)]
    );
    assert_eq!(
        guest.vgic.distributor_read(0, GICD_IROUTER + 8 * 33, 8),
        Ok(1)
    );
    assert_eq!(
        guest.vgic.distributor_read(0, GICD_IROUTER + 8 * 33 + 4, 4),
        Ok(0)
    );
    // A byte write of one priority (gic_irq_set_prio), keeping five bits: virtual only, the
    // physical interrupt keeps the priority the hypervisor gave it.
    guest.physical.effects.clear();
    guest.gicd_write_byte(GICD_IPRIORITYR + u64::from(HARDWARE_SPI), 0x87);
    assert_eq!(guest.physical.effects, []);
    // INTIDs 32, 34 and 35 belong to nobody here: they read as zero.
    assert_eq!(guest.gicd_read(GICD_IPRIORITYR + 32), 0x8000);
}

#[test]
fn sgi_and_ppi_registers_live_in_the_redistributor() {
    let mut vgic = boot(2);
    // With affinity routing the GICD copies of the private registers are RAZ/WI.
    let mut guest = Guest::new(&mut vgic, 1);
    assert_eq!(guest.gicd_read(GICD_ISENABLER), 0);
    guest.gicd_write(GICD_ISPENDR, !0);
    assert_eq!(
        guest.gicr_read(REDISTRIBUTOR_STRIDE + SGI_BASE + GICD_ISPENDR),
        0
    );
    assert_eq!(
        guest.gicr_read(REDISTRIBUTOR_STRIDE + SGI_BASE + GICD_ISENABLER),
        0xFF | 1 << 27
    );
    // SGIs are edge and read-only, PPIs level.
    assert_eq!(guest.gicr_read(SGI_BASE + GICD_ICFGR), 0xAAAA_AAAA);
    guest.gicr_write(SGI_BASE + GICD_ICFGR, 0);
    assert_eq!(guest.gicr_read(SGI_BASE + GICD_ICFGR), 0xAAAA_AAAA);
    assert_eq!(guest.gicr_read(SGI_BASE + GICD_ICFGR + 4), 0);
}

#[test]
fn sgi_to_one_target() {
    let mut vgic = boot(4);
    // ICC_SGI1R_EL1 from vCPU 0: INTID 1, TargetList {2}.
    let kick = vgic.send_sgi_v3(0, 1 << 24 | 1 << 2).unwrap();
    assert_eq!(kick.iter().collect::<Vec<_>>(), [2]);
    for vcpu in 0..4 {
        let pending = vgic.redistributor_read(0, vcpu * REDISTRIBUTOR_STRIDE + SGI_BASE + 0x200, 4);
        assert_eq!(pending, Ok(if vcpu == 2 { 1 << 1 } else { 0 }));
    }
    assert!(vgic.has_pending(2) && !vgic.has_pending(0));
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(2, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].virtual_intid, 1);
    assert_eq!(list_registers[0].physical_intid, None);
    assert!(list_registers[0].group1);
}

#[test]
fn sgi_to_all_but_self() {
    let mut vgic = boot(4);
    let kick = vgic.send_sgi_v3(1, 1 << 40 | 3 << 24 | 0xFFFF).unwrap();
    assert_eq!(kick.iter().collect::<Vec<_>>(), [0, 2, 3]);
    assert!(!vgic.has_pending(1));
    for vcpu in [0, 2, 3] {
        assert!(vgic.interrupt_state(vcpu, 3).unwrap().pending_latch);
    }
}

#[test]
fn sgi_to_missing_targets_goes_nowhere() {
    let mut vgic = boot(4);
    // Aff1 = 1, RS = 1, or TargetList bits beyond the last vCPU: nobody.
    assert_eq!(vgic.send_sgi_v3(0, 1 << 16 | 1), Ok(VcpuSet::EMPTY));
    assert_eq!(vgic.send_sgi_v3(0, 1 << 44 | 1), Ok(VcpuSet::EMPTY));
    assert_eq!(vgic.send_sgi_v3(0, 0xFFF0), Ok(VcpuSet::EMPTY));
    assert_eq!(vgic.send_sgi_v3(0, 1 << 32 | 1), Ok(VcpuSet::EMPTY));
    assert!((0..4).all(|vcpu| !vgic.has_pending(vcpu)));
    assert_eq!(
        vgic.send_sgi_v3(4, 1),
        Err(VgicError::InvalidVcpu { vcpu: 4 })
    );
    // Group 0 only through ICC_SGI0R_EL1: Linux's SGIs are group 1.
    assert_eq!(vgic.send_sgi_v3_group0(0, 1 << 1), Ok(VcpuSet::EMPTY));
}

#[test]
fn group0_sgi() {
    let mut vgic = boot(2);
    // vCPU 1 moves SGI 2 to group 0; ICC_SGI0R_EL1 from vCPU 0 reaches it.
    let mut guest = Guest::new(&mut vgic, 1);
    guest.gicr_write(REDISTRIBUTOR_STRIDE + SGI_BASE + GICD_IGROUPR, !(1 << 2));
    let kick = vgic.send_sgi_v3_group0(0, 2 << 24 | 1 << 1).unwrap();
    assert_eq!(kick.iter().collect::<Vec<_>>(), [1]);
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [2]);
    assert!(!list_registers[0].group1);
}

#[test]
fn disabled_sgi_waits_until_enabled() {
    let mut vgic = boot(2);
    let mut guest = Guest::new(&mut vgic, 1);
    guest.gicr_write(REDISTRIBUTOR_STRIDE + SGI_BASE + GICD_ICENABLER, 1 << 9);
    assert_eq!(vgic.send_sgi_v3(0, 9 << 24 | 1 << 1), Ok(VcpuSet::EMPTY));
    assert!(!vgic.has_pending(1));
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
    let mut guest = Guest::new(&mut vgic, 1);
    let outcome = guest.gicr_write(REDISTRIBUTOR_STRIDE + SGI_BASE + GICD_ISENABLER, 1 << 9);
    assert!(outcome.kick.contains(1));
    vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [9]);
}

#[test]
fn timer_interrupt_round_trip() {
    let mut vgic = boot(2);
    assert_eq!(
        vgic.inject(1, TIMER_PPI)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [1]
    );
    let mut list_registers = empty_list_registers(4);
    let outcome = vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert_eq!(outcome.used_list_registers, 0b1);
    assert!(!outcome.underflow_interrupt_wanted);
    let timer = list_registers[0];
    assert_eq!(
        timer,
        ListRegister {
            virtual_intid: TIMER_PPI,
            physical_intid: Some(TIMER_PPI),
            priority: 0xA0,
            state: LrState::Pending,
            group1: true,
            source_vcpu: 0,
            eoi_maintenance: false,
        }
    );
    assert_eq!(timer.encode_v3(), 0x70A0_001B_0000_001B);
    // The guest acknowledges: the vGIC reports it active.
    list_registers[0].state = LrState::Active;
    vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].state, LrState::Active);
    assert_eq!(
        vgic.redistributor_read(1, REDISTRIBUTOR_STRIDE + SGI_BASE + 0x300, 4),
        Ok(1 << TIMER_PPI)
    );
    // The guest deactivates it (which deactivates the physical PPI through HW=1).
    complete_all(&mut list_registers);
    let outcome = vgic.sync_and_fill(1, &mut list_registers).unwrap();
    assert_eq!(outcome.used_list_registers, 0);
    assert!(!vgic.has_pending(1));
    assert_eq!(
        vgic.redistributor_read(1, REDISTRIBUTOR_STRIDE + SGI_BASE + 0x300, 4),
        Ok(0)
    );
}

/// Seen under QEMU: the guest completes the timer interrupt without exiting, the timer fires
/// again, and the exit that takes it injects before the completed list register is folded back.
/// The new occurrence must not be lost (a lost timer interrupt hangs the guest's `sleep`).
#[test]
fn hardware_interrupt_refiring_before_the_fold_is_not_lost() {
    let mut vgic = boot(1);
    vgic.inject(0, TIMER_PPI).unwrap();
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].state, LrState::Pending);
    // The guest acknowledges and deactivates it in hardware; no exit in between.
    complete_all(&mut list_registers);
    // The physical timer fires again: the exit injects first, then syncs.
    vgic.inject(0, TIMER_PPI).unwrap();
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(outcome.used_list_registers, 0b1);
    assert_eq!(list_registers[0].virtual_intid, TIMER_PPI);
    assert_eq!(list_registers[0].physical_intid, Some(TIMER_PPI));
    assert_eq!(list_registers[0].state, LrState::Pending);
}

/// With `deactivate_hardware_by_maintenance` (QEMU's GICv2), a hardware-mapped interrupt goes in
/// a list register without the hardware bit but with an EOI maintenance request, and once the
/// guest completes it the caller is told to deactivate the physical interrupt, exactly once.
#[test]
fn hardware_interrupts_can_be_deactivated_by_the_hypervisor_instead() {
    let mut config = super::config(GicVersion::V3, 1);
    config.deactivate_hardware_by_maintenance = true;
    let mut vgic = boot_with(config);
    vgic.inject(0, TIMER_PPI).unwrap();
    let mut list_registers = empty_list_registers(4);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(outcome.deactivate.is_empty());
    assert_eq!(list_registers[0].virtual_intid, TIMER_PPI);
    assert_eq!(list_registers[0].physical_intid, None, "no hardware bit");
    assert!(
        list_registers[0].eoi_maintenance,
        "EOI maintenance requested"
    );
    complete_all(&mut list_registers);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(outcome.deactivate.as_slice(), &[TIMER_PPI]);
    assert_eq!(list_registers[0], ListRegister::INVALID);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(outcome.deactivate.is_empty(), "reported once");
}

/// `needs_sync` is false only when there is nothing to fold back and nothing to fill, so the
/// hypervisor can skip the list registers on exits that change nothing.
#[test]
fn needs_sync_tracks_list_registers_and_work() {
    let mut vgic = boot(1);
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(!vgic.needs_sync(0), "nothing queued after boot");
    vgic.inject(0, TIMER_PPI).unwrap();
    assert!(vgic.needs_sync(0), "work to fill");
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(vgic.needs_sync(0), "a list register to fold back");
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(!vgic.needs_sync(0), "completed and folded back");
    assert!(!vgic.needs_sync(7), "no such vCPU");
}

/// A pending interrupt the guest keeps disabled (an emulated UART's, before its driver loads) is
/// parked: exits skip the list registers. Enabling it, or its group after GICD_CTLR turned the
/// group off, brings it to a list register.
#[test]
fn disabled_pending_interrupt_costs_exits_nothing_until_enabled() {
    let spi = VIRTUAL_SPIS[0];
    let mut vgic = boot(1);
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    vgic.inject(0, spi).unwrap();
    assert!(vgic.needs_sync(0), "new work");
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty(), "disabled");
    assert!(!vgic.needs_sync(0), "parked, not work");
    assert!(!vgic.has_pending(0));

    let mut guest = Guest::new(&mut vgic, 0);
    guest.gicd_write(GICD_ISENABLER + u64::from(spi / 32) * 4, 1 << (spi % 32));
    assert!(vgic.needs_sync(0), "enabled: work again");
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), vec![spi]);
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();

    // The group switched off: pending again, parked; switched on: delivered.
    let mut guest = Guest::new(&mut vgic, 0);
    guest.gicd_write(GICD_CTLR, GICD_CTLR_ARE_NS);
    drop(guest);
    vgic.inject(0, spi).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty(), "group 1 off");
    assert!(!vgic.needs_sync(0));
    let mut guest = Guest::new(&mut vgic, 0);
    guest.gicd_write(
        GICD_CTLR,
        GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1,
    );
    assert!(vgic.needs_sync(0), "group on: work again");
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), vec![spi]);
}

/// A new priority reaches the list register that holds the interrupt: the write kicks that
/// list register's vCPU, whose next sync rewrites it.
#[test]
fn priority_write_rewrites_a_queued_list_register() {
    let spi = VIRTUAL_SPIS[1];
    let mut vgic = boot(2);
    let mut list_registers = empty_list_registers(4);
    Guest::new(&mut vgic, 0).gicd_write(GICD_ISENABLER + u64::from(spi / 32) * 4, 1 << (spi % 32));
    vgic.inject(0, spi).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), vec![spi]);
    assert_eq!(list_registers[0].priority, 0xA0);
    let outcome = Guest::new(&mut vgic, 1).gicd_write_byte(GICD_IPRIORITYR + u64::from(spi), 0x40);
    assert!(outcome.kick.contains(0), "the list register's vCPU");
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].priority, 0x40);
    // One that is not queued only takes the new priority.
    let other = VIRTUAL_SPIS[2];
    let outcome =
        Guest::new(&mut vgic, 1).gicd_write_byte(GICD_IPRIORITYR + u64::from(other), 0x20);
    assert!(outcome.kick.is_empty());
    assert_eq!(
        Guest::new(&mut vgic, 0).gicd_read(GICD_IPRIORITYR + u64::from(other & !3))
            >> (8 * (other % 4))
            & 0xFF,
        0x20
    );
}

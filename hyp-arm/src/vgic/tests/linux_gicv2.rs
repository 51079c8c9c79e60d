//! Linux's GICv2 driver (irq-gic.c) bringing up the vGIC, then SGIs with their sources.
#![forbid(unsafe_code)]

use super::*;

const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ISPENDR: u64 = 0x200;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_ICFGR: u64 = 0xC00;
const GICD_SGIR: u64 = 0xF00;
const GICD_CPENDSGIR: u64 = 0xF10;
const GICD_SPENDSGIR: u64 = 0xF20;
const GICD_PIDR2: u64 = 0xFE8;

/// gic_get_cpumask: the first non-zero ITARGETSR0..7 word, folded into one byte.
fn cpu_mask(guest: &Guest) -> u32 {
    for offset in (0..32).step_by(4) {
        let mut mask = guest.gicd_read(GICD_ITARGETSR + offset);
        mask |= mask >> 16;
        mask |= mask >> 8;
        if mask != 0 {
            return mask & 0xFF;
        }
    }
    0
}

/// gic_dist_init on the boot CPU.
fn distributor_init(guest: &mut Guest, vcpu_count: usize) {
    assert_eq!(guest.gicd_read(GICD_PIDR2) & 0xF0, 0x20);
    let typer = guest.gicd_read(GICD_TYPER);
    assert_eq!((typer & 0x1F) + 1, 3, "ITLinesNumber: 96 INTIDs");
    assert_eq!((typer >> 5) & 0x7, vcpu_count as u32 - 1, "CPUNumber");
    assert_eq!(typer & (1 << 10), 0, "no security extension");
    guest.gicd_write(GICD_CTLR, 0);
    let mut mask = cpu_mask(guest);
    assert_eq!(mask, 1 << guest.vcpu);
    mask |= mask << 8;
    mask |= mask << 16;
    for intid in (32..96).step_by(4) {
        guest.gicd_write(GICD_ITARGETSR + intid, mask);
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
    guest.gicd_write(GICD_CTLR, 1);
    assert_eq!(guest.gicd_read(GICD_CTLR), 1);
}

/// gic_cpu_init on each CPU, then the timer is enabled.
fn cpu_init(guest: &mut Guest) {
    assert_eq!(cpu_mask(guest), 1 << guest.vcpu);
    guest.gicd_write(GICD_ICACTIVER, !0);
    guest.gicd_write(GICD_ICENABLER, 0xFFFF_0000);
    guest.gicd_write(GICD_ISENABLER, 0x0000_FFFF);
    for intid in (0..32).step_by(4) {
        guest.gicd_write(GICD_IPRIORITYR + intid, 0xA0A0_A0A0);
    }
    guest.gicd_write(GICD_ISENABLER, 1 << TIMER_PPI);
}

fn boot(vcpu_count: usize) -> Box<Vgic> {
    let mut vgic = vgic(GicVersion::V2, vcpu_count);
    distributor_init(&mut Guest::new(&mut vgic, 0), vcpu_count);
    for vcpu in 0..vcpu_count {
        let mut guest = Guest::new(&mut vgic, vcpu);
        cpu_init(&mut guest);
        guest.physical.assert_only_owned();
    }
    vgic
}

#[test]
fn boot_with_one_and_four_vcpus() {
    boot(1);
    let vgic = boot(4);
    // ITARGETSR0..7 read as the reader's own bit, for every reader.
    for vcpu in 0..4 {
        assert_eq!(
            vgic.distributor_read(vcpu, GICD_ITARGETSR + 28, 4),
            Ok(0x0101_0101 << vcpu)
        );
    }
    assert_eq!(vgic.distributor_read(2, GICD_ITARGETSR + 33, 1), Ok(1));
    // GICv2 has no redistributors.
    assert_eq!(
        vgic.redistributor_read(0, 0x8, 8),
        Err(VgicAccessError::NotGicV3)
    );
}

#[test]
fn affinity_byte_write_routes_the_physical_spi() {
    let mut vgic = boot(4);
    let mut guest = Guest::new(&mut vgic, 0);
    // gic_set_affinity: one byte, CPU 2; bits of CPU interfaces that do not exist are dropped.
    guest.gicd_write_byte(GICD_ITARGETSR + u64::from(HARDWARE_SPI), 0b1111_0100);
    assert_eq!(guest.physical.effects, [Effect::Route(HARDWARE_SPI, 2)]);
    assert_eq!(
        guest.vgic.distributor_read(0, GICD_ITARGETSR + 33, 1),
        Ok(0b0100)
    );
    // A virtual SPI follows its routing too.
    guest.gicd_write_byte(GICD_ITARGETSR + u64::from(VIRTUAL_SPIS[0]), 0b1000);
    guest.gicd_write(GICD_ISENABLER + 4, 1 << (VIRTUAL_SPIS[0] - 32));
    assert_eq!(
        vgic.inject(0, VIRTUAL_SPIS[0])
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [3]
    );
    assert!(vgic.has_pending(3) && !vgic.has_pending(0));
}

#[test]
fn sgi_carries_its_source() {
    let mut vgic = boot(4);
    let mut sender = Guest::new(&mut vgic, 1);
    // gic_ipi_send_mask from CPU 1 to CPUs 0 and 3, SGI 5.
    let outcome = sender.gicd_write(GICD_SGIR, 0b1001 << 16 | 5);
    assert_eq!(outcome.kick.iter().collect::<Vec<_>>(), [0, 3]);
    // The target sees SGI 5 pending from source 1 (byte 1 of SPENDSGIR1).
    assert_eq!(
        vgic.distributor_read(0, GICD_SPENDSGIR + 4, 4),
        Ok(0b10 << 8)
    );
    assert_eq!(vgic.distributor_read(0, GICD_ISPENDR, 4), Ok(1 << 5));
    assert_eq!(vgic.distributor_read(2, GICD_ISPENDR, 4), Ok(0));

    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [5]);
    assert_eq!(list_registers[0].source_vcpu, 1);
    assert!(!list_registers[0].eoi_maintenance);
    assert!(
        !list_registers[0].group1,
        "Linux keeps GICv2 interrupts in group 0"
    );
    // Priority 0xA0 -> 0x14 at [27:23], Pending, CPUID 1 at [12:10], VirtualID 5.
    assert_eq!(list_registers[0].encode_v2(), 0x1A00_0405);

    // The same SGI from CPU 2: it waits for the first, whose deactivation must exit.
    Guest::new(&mut vgic, 2).gicd_write(GICD_SGIR, 0b0001 << 16 | 5);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(
        queued_intids(&list_registers),
        [5],
        "one list register per vINTID"
    );
    assert!(list_registers[0].eoi_maintenance);
    // Byte access to SPENDSGIR: SGI 5 is pending from CPU 1 (in the list register) and CPU 2.
    assert_eq!(vgic.distributor_read(0, GICD_SPENDSGIR + 5, 1), Ok(0b110));

    // The guest completes the first; the second comes in with its own source.
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [5]);
    assert_eq!(list_registers[0].source_vcpu, 2);
    assert!(!list_registers[0].eoi_maintenance);
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
    assert!(!vgic.has_pending(0));
}

#[test]
fn sgi_target_list_filters() {
    let mut vgic = boot(4);
    let mut sender = Guest::new(&mut vgic, 3);
    let all_but_self = sender.gicd_write(GICD_SGIR, 1 << 24 | 2);
    assert_eq!(all_but_self.kick.iter().collect::<Vec<_>>(), [0, 1, 2]);
    let only_self = sender.gicd_write(GICD_SGIR, 2 << 24 | 0xFF << 16 | 3);
    assert_eq!(only_self.kick.iter().collect::<Vec<_>>(), [3]);
    let reserved = sender.gicd_write(GICD_SGIR, 3 << 24 | 0xFF << 16 | 4);
    assert!(reserved.kick.is_empty());
    // CPUTargetList bits of CPUs that do not exist are ignored.
    let missing = sender.gicd_write(GICD_SGIR, 0xF0 << 16 | 6);
    assert!(missing.kick.is_empty());
    assert_eq!(vgic.distributor_read(3, GICD_ISPENDR, 4), Ok(1 << 3));
    for vcpu in 0..3 {
        assert_eq!(vgic.distributor_read(vcpu, GICD_ISPENDR, 4), Ok(1 << 2));
    }
}

#[test]
fn sgi_pending_registers() {
    let mut vgic = boot(2);
    let mut guest = Guest::new(&mut vgic, 0);
    // ISPENDR cannot pend a GICv2 SGI; SPENDSGIR can, per source.
    guest.gicd_write(GICD_ISPENDR, 1 << 7);
    assert_eq!(guest.gicd_read(GICD_ISPENDR), 0);
    let outcome = guest.gicd_write(GICD_SPENDSGIR + 4, 0b11 << 24);
    assert!(outcome.kick.contains(0));
    assert_eq!(guest.gicd_read(GICD_SPENDSGIR + 4), 0b11 << 24);
    guest.gicd_write(GICD_CPENDSGIR + 4, 0b01 << 24);
    assert_eq!(guest.gicd_read(GICD_CPENDSGIR + 4), 0b10 << 24);
    guest.gicd_write(GICD_CPENDSGIR + 4, 0b10 << 24);
    assert_eq!(guest.gicd_read(GICD_ISPENDR), 0);
}

#[test]
fn timer_is_group_0_with_the_hardware_bit() {
    let mut vgic = boot(2);
    vgic.inject(1, TIMER_PPI).unwrap();
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(1, &mut list_registers).unwrap();
    // HW, group 0, Pending, priority 0x14, pINTID 27, vINTID 27.
    assert_eq!(list_registers[0].encode_v2(), 0x9A00_6C1B);
}

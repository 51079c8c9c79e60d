//! Host tests of the GICv2 drivers against register frames simulated in RAM.

use super::{Gicv2CpuInterface, Gicv2Distributor, Gicv2HypInterface};
use crate::test_support::FakeFrame;
use crate::{Acknowledged, GicError, IntId, Trigger, DEFAULT_PRIORITY};

fn intid(raw: u32) -> IntId {
    IntId::new(raw).unwrap()
}

/// A distributor with 96 interrupt IDs (ITLinesNumber = 2).
fn distributor() -> (FakeFrame, Gicv2Distributor) {
    let frame = FakeFrame::new(0x1000);
    frame.write32(0x004, 2);
    // SAFETY: a 4 KiB frame that outlives the driver.
    let distributor = unsafe { Gicv2Distributor::new(frame.base()) };
    (frame, distributor)
}

#[test]
fn per_interrupt_operations_hit_the_right_bank_and_bit() {
    let (frame, distributor) = distributor();
    assert_eq!(distributor.typer_lines(), 96);
    distributor.enable(intid(40)).unwrap();
    assert_eq!(frame.read32(0x104), 1 << 8, "ISENABLER1 bit 8");
    distributor.disable(intid(95)).unwrap();
    assert_eq!(frame.read32(0x188), 1 << 31, "ICENABLER2 bit 31");
    distributor.clear_pending(intid(33)).unwrap();
    assert_eq!(frame.read32(0x284), 1 << 1, "ICPENDR1 bit 1");
    distributor.clear_active(intid(64)).unwrap();
    assert_eq!(frame.read32(0x388), 1, "ICACTIVER2 bit 0");
    distributor.set_priority(intid(40), 0x80).unwrap();
    assert_eq!(frame.read8(0x428), 0x80);
    distributor.set_target(intid(40), 0b10).unwrap();
    assert_eq!(frame.read8(0x828), 0b10);
    distributor.set_trigger(intid(40), Trigger::Edge).unwrap();
    assert_eq!(frame.read32(0xc08), 1 << 17, "ICFGR2 Int_config[1] of 40");
    distributor.set_trigger(intid(40), Trigger::Level).unwrap();
    assert_eq!(frame.read32(0xc08), 0);
}

#[test]
fn out_of_range_and_wrong_kind_are_refused() {
    let (frame, distributor) = distributor();
    assert_eq!(
        distributor.enable(intid(96)),
        Err(GicError::NotImplemented {
            intid: intid(96),
            lines: 96
        })
    );
    assert_eq!(
        distributor.set_target(intid(20), 1),
        Err(GicError::NotShared(intid(20)))
    );
    assert_eq!(
        distributor.set_trigger(intid(3), Trigger::Edge),
        Err(GicError::NotConfigurable(intid(3)))
    );
    assert_eq!(distributor.send_sgi(1, 16), Err(GicError::InvalidSgi(16)));
    assert_eq!(frame.read32(0x100 + 12), 0);
}

#[test]
fn sgis_and_the_cpu_interface_number() {
    let (frame, distributor) = distributor();
    distributor.send_sgi(0b100, 5).unwrap();
    assert_eq!(
        frame.read32(0xf00),
        0x0004_0005,
        "filter 0, target list, SGI ID"
    );
    // Each banked ITARGETSR0-7 byte names the reader; some may read as zero.
    frame.write8(0x800 + 20, 0b0100_0000);
    assert_eq!(distributor.cpu_interface_mask(), 0b0100_0000);
    assert_eq!(distributor.cpu_interface_number(), 6);
}

#[test]
fn init_resets_the_spis_and_targets_the_calling_cpu() {
    let (frame, distributor) = distributor();
    frame.write8(0x800, 0b10);
    frame.write32(0xc04, 0x5555_5555); // PPIs: untouched
    distributor.init();
    assert_eq!(
        frame.read32(0x180),
        0,
        "private interrupts are left to init_private"
    );
    assert_eq!(frame.read32(0x184), u32::MAX);
    assert_eq!(frame.read32(0x188), u32::MAX);
    assert_eq!(frame.read32(0x18c), 0, "beyond the implemented lines");
    assert_eq!(frame.read32(0x388), u32::MAX, "ICACTIVER2");
    assert_eq!(frame.read8(0x400 + 31), 0);
    assert_eq!(frame.read8(0x400 + 32), DEFAULT_PRIORITY);
    assert_eq!(frame.read8(0x400 + 95), DEFAULT_PRIORITY);
    assert_eq!(frame.read8(0x400 + 96), 0);
    assert_eq!(frame.read8(0x800 + 95), 0b10);
    assert_eq!(frame.read32(0xc04), 0x5555_5555);
    // This fake GIC has no Security Extensions: SPIs go to Group 1, both groups are enabled.
    assert_eq!(frame.read32(0x000), 0b11, "enabled, both groups");
    assert_eq!(frame.read32(0x084), u32::MAX, "IGROUPR1: SPIs in Group 1");
    assert_eq!(
        frame.read32(0x080),
        0,
        "private interrupts are left to init_private"
    );

    distributor.init_private();
    assert_eq!(frame.read32(0x180), u32::MAX);
    assert_eq!(
        frame.read32(0x080),
        u32::MAX,
        "IGROUPR0: SGIs and PPIs in Group 1"
    );
    assert_eq!(frame.read8(0x400), DEFAULT_PRIORITY);
}

#[test]
fn cpu_interface_splits_priority_drop_and_deactivation() {
    let frame = FakeFrame::new(0x2000);
    // SAFETY: an 8 KiB frame that outlives the driver.
    let cpu_interface = unsafe { Gicv2CpuInterface::new(frame.base()) };
    frame.write32(0x000, 1 << 5); // the firmware's FIQ bypass disable
    cpu_interface.init(true);
    assert_eq!(
        frame.read32(0x000),
        1 << 9 | 1 << 5 | 1,
        "EOImodeNS, kept bypass bit, enable"
    );
    // Without the Security Extensions both groups are ours: Group 1 enabled and acknowledged.
    cpu_interface.init(false);
    assert_eq!(frame.read32(0x000), 1 << 9 | 1 << 5 | 1 << 2 | 1 << 1 | 1);
    assert_eq!(frame.read32(0x004), 0xff);

    frame.write32(0x00c, 1023);
    assert_eq!(cpu_interface.acknowledge(), None, "spurious");
    frame.write32(0x00c, 2 << 10 | 3);
    let acknowledged = cpu_interface.acknowledge().unwrap();
    assert_eq!(
        acknowledged,
        Acknowledged {
            intid: intid(3),
            raw: 0x803
        },
        "SGI 3 from CPU 2"
    );
    cpu_interface.end_of_interrupt(acknowledged);
    assert_eq!(frame.read32(0x010), 0x803, "GICC_EOIR");
    assert_eq!(frame.read32(0x1000), 0, "no deactivation yet");
    cpu_interface.deactivate(acknowledged);
    assert_eq!(frame.read32(0x1000), 0x803, "GICC_DIR");
}

#[test]
fn hyp_interface_stays_within_the_implemented_list_registers() {
    let frame = FakeFrame::new(0x200);
    frame.write32(0x004, 3); // four list registers
                             // SAFETY: a GICH frame that outlives the driver.
    let hyp_interface = unsafe { Gicv2HypInterface::new(frame.base()) };
    assert_eq!(hyp_interface.list_register_count(), 4);
    hyp_interface.write_lr(3, 0x1234);
    assert_eq!(frame.read32(0x10c), 0x1234);
    hyp_interface.write_lr(4, 0x5678);
    assert_eq!(frame.read32(0x110), 0, "GICH_LR4 does not exist here");
    frame.write32(0x110, 0x9abc);
    assert_eq!(hyp_interface.read_lr(4), 0);
    assert_eq!(hyp_interface.read_lr(3), 0x1234);
    frame.write32(0x030, u32::MAX);
    frame.write32(0x034, u32::MAX);
    assert_eq!(hyp_interface.elrsr(), 0xf);
    hyp_interface.set_enabled(true);
    hyp_interface.set_underflow_interrupt(true);
    assert_eq!(frame.read32(0x000), 0b11);
    hyp_interface.set_enabled(false);
    assert_eq!(frame.read32(0x000), 0b10);
}

//! Host tests of the GICv3 drivers: MMIO frames simulated in RAM, system registers through the fakes.

use std::sync::MutexGuard;

use tock_registers::interfaces::{Readable, Writeable};

use super::cpu_interface::{self, sgi1r_value, SgiTarget};
use super::sysreg::{self, FAKE_LOCK};
use super::{Gicv3Distributor, Gicv3HypInterface, Gicv3Redistributor};
use crate::test_support::FakeFrame;
use crate::{Acknowledged, Affinity, GicError, IntId, Trigger, DEFAULT_PRIORITY};

fn intid(raw: u32) -> IntId {
    IntId::new(raw).unwrap()
}

const AFFINITY: Affinity = Affinity {
    aff3: 1,
    aff2: 2,
    aff1: 3,
    aff0: 18,
};

/// Takes the fake system registers for this test, all reset to zero.
pub(crate) fn fakes() -> MutexGuard<'static, ()> {
    let guard = FAKE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for fake in [
        sysreg::IccIar1El1::fake(),
        sysreg::IccEoir1El1::fake(),
        sysreg::IccDirEl1::fake(),
        sysreg::IccPmrEl1::fake(),
        sysreg::IccCtlrEl1::fake(),
        sysreg::IccIgrpen1El1::fake(),
        sysreg::IccSgi1rEl1::fake(),
        sysreg::IccSreEl2::fake(),
        sysreg::IchVtrEl2::fake(),
        sysreg::IchLr2El2::fake(),
        sysreg::IchLr4El2::fake(),
        sysreg::IchElrsrEl2::fake(),
        sysreg::IchHcrEl2::fake(),
    ] {
        fake.store(0, std::sync::atomic::Ordering::SeqCst);
    }
    guard
}

#[test]
fn sgi1r_fields_follow_ihi_0069() {
    // TargetList [15:0] = bit 18 % 16, Aff1 [23:16], INTID [27:24], Aff2 [39:32], RS [47:44] = 18 / 16,
    // Aff3 [55:48].
    let expected = 1 << 2 | 3 << 16 | 7 << 24 | 2 << 32 | 1 << 44 | 1 << 48;
    assert_eq!(sgi1r_value(7, SgiTarget::cpu(AFFINITY)), Ok(expected));
    // IRM [40]: every CPU but the sender.
    assert_eq!(
        sgi1r_value(1, SgiTarget::AllOtherCpus),
        Ok(1 << 40 | 1 << 24)
    );
    assert_eq!(
        sgi1r_value(16, SgiTarget::AllOtherCpus),
        Err(GicError::InvalidSgi(16))
    );
    let bad_range = SgiTarget::List {
        aff3: 0,
        aff2: 0,
        aff1: 0,
        range_selector: 16,
        target_list: 1,
    };
    assert_eq!(sgi1r_value(0, bad_range), Err(GicError::RangeSelector(16)));
}

#[test]
fn send_sgi_needs_range_selector_support_for_aff0_above_15() {
    let _fakes = fakes();
    assert_eq!(
        cpu_interface::send_sgi(7, SgiTarget::cpu(AFFINITY)),
        Err(GicError::RangeSelector(1))
    );
    assert_eq!(sysreg::ICC_SGI1R_EL1.fake_value(), 0);
    sysreg::ICC_CTLR_EL1.set(1 << 18); // RSS
    cpu_interface::send_sgi(7, SgiTarget::cpu(AFFINITY)).unwrap();
    assert_eq!(
        sysreg::ICC_SGI1R_EL1.fake_value(),
        sgi1r_value(7, SgiTarget::cpu(AFFINITY)).unwrap()
    );
}

#[test]
fn cpu_interface_init_and_interrupt_flow() {
    let _fakes = fakes();
    cpu_interface::init();
    assert_eq!(sysreg::ICC_SRE_EL2.get(), 0b1001, "SRE and Enable");
    assert_eq!(sysreg::ICC_PMR_EL1.get(), 0xff);
    assert_eq!(sysreg::ICC_CTLR_EL1.get(), 0b10, "EOImode");
    assert_eq!(sysreg::ICC_IGRPEN1_EL1.get(), 1);

    sysreg::IccIar1El1::fake().store(1023, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(cpu_interface::acknowledge(), None);
    sysreg::IccIar1El1::fake().store(27, std::sync::atomic::Ordering::SeqCst);
    let acknowledged = cpu_interface::acknowledge().unwrap();
    assert_eq!(
        acknowledged,
        Acknowledged {
            intid: intid(27),
            raw: 27
        }
    );
    cpu_interface::end_of_interrupt(acknowledged);
    assert_eq!(sysreg::ICC_EOIR1_EL1.fake_value(), 27);
    assert_eq!(sysreg::ICC_DIR_EL1.fake_value(), 0);
    cpu_interface::deactivate(acknowledged);
    assert_eq!(sysreg::ICC_DIR_EL1.fake_value(), 27);
}

#[test]
fn an_unexpected_lpi_is_completed_and_not_returned() {
    let _fakes = fakes();
    sysreg::IccIar1El1::fake().store(8192, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(cpu_interface::acknowledge(), None);
    assert_eq!(sysreg::ICC_EOIR1_EL1.fake_value(), 8192);
    assert_eq!(sysreg::ICC_DIR_EL1.fake_value(), 8192);
}

#[test]
fn hyp_interface_stays_within_the_implemented_registers() {
    let _fakes = fakes();
    // ListRegs [4:0] = 3 (four list registers), PREbits [28:26] = 4 (five preemption bits).
    sysreg::ICH_VTR_EL2.set(4 << 26 | 3);
    let hyp_interface = Gicv3HypInterface::probe();
    assert_eq!(hyp_interface.list_register_count(), 4);
    assert_eq!(hyp_interface.active_priority_register_count(), 1);
    hyp_interface.write_lr(2, 0xabc);
    assert_eq!(sysreg::ICH_LR2_EL2.get(), 0xabc);
    hyp_interface.write_lr(4, 0xdef);
    assert_eq!(
        sysreg::ICH_LR4_EL2.get(),
        0,
        "ICH_LR4_EL2 is not implemented here"
    );
    assert_eq!(hyp_interface.read_lr(2), 0xabc);
    assert_eq!(hyp_interface.read_lr(12), 0);
    sysreg::IchElrsrEl2::fake().store(0xffff, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(hyp_interface.elrsr(), 0xf);
    hyp_interface.set_enabled(true);
    hyp_interface.set_underflow_interrupt(true);
    assert_eq!(sysreg::ICH_HCR_EL2.get(), 0b11);

    sysreg::ICH_VTR_EL2.set(6 << 26 | 15);
    let hyp_interface = Gicv3HypInterface::probe();
    assert_eq!(hyp_interface.list_register_count(), 16);
    assert_eq!(hyp_interface.active_priority_register_count(), 4);
}

/// A distributor with 96 interrupt IDs (ITLinesNumber = 2).
fn distributor() -> (FakeFrame, Gicv3Distributor) {
    let frame = FakeFrame::new(0x10000);
    frame.write32(0x0004, 2);
    // SAFETY: a 64 KiB frame that outlives the driver.
    let distributor = unsafe { Gicv3Distributor::new(frame.base()) };
    (frame, distributor)
}

#[test]
fn distributor_configures_and_routes_spis_only() {
    let (frame, distributor) = distributor();
    distributor.enable(intid(40)).unwrap();
    assert_eq!(frame.read32(0x0104), 1 << 8);
    distributor.set_trigger(intid(47), Trigger::Edge).unwrap();
    assert_eq!(frame.read32(0x0c08), 1 << 31, "ICFGR2 Int_config[1] of 47");
    distributor.route(intid(40), AFFINITY).unwrap();
    assert_eq!(
        frame.read64(0x6000 + 8 * 40),
        0x01_0002_0312,
        "IROUTER40: Aff3.Aff2.Aff1.Aff0"
    );
    assert_eq!(
        distributor.enable(intid(27)),
        Err(GicError::NotShared(intid(27)))
    );
    assert_eq!(
        distributor.route(intid(27), AFFINITY),
        Err(GicError::NotShared(intid(27)))
    );
    assert_eq!(
        distributor.set_priority(intid(96), 0),
        Err(GicError::NotImplemented {
            intid: intid(96),
            lines: 96
        })
    );
}

#[test]
fn distributor_init_enables_group_1_with_affinity_routing() {
    let (frame, distributor) = distributor();
    distributor.init(AFFINITY).unwrap();
    assert_eq!(
        frame.read32(0x0000),
        1 << 4 | 1 << 1,
        "ARE_NS and EnableGrp1NS"
    );
    assert_eq!(
        frame.read32(0x0080),
        0,
        "SGIs and PPIs are the redistributor's"
    );
    assert_eq!(frame.read32(0x0084), u32::MAX, "SPIs in Group 1");
    assert_eq!(frame.read32(0x0188), u32::MAX, "SPIs disabled");
    assert_eq!(frame.read8(0x0400 + 95), DEFAULT_PRIORITY);
    assert_eq!(frame.read64(0x6000 + 8 * 32), AFFINITY.to_mpidr());
    assert_eq!(frame.read64(0x6000 + 8 * 95), AFFINITY.to_mpidr());
    assert_eq!(frame.read64(0x6000 + 8 * 96), 0);
}

#[test]
fn disable_times_out_when_rwp_never_clears() {
    let (frame, distributor) = distributor();
    frame.write32(0x0000, 1 << 31); // RWP stuck at 1
    assert_eq!(
        distributor.disable(intid(40)),
        Err(GicError::Timeout("GICD_CTLR.RWP to clear"))
    );
}

/// Three redistributors: a GICv4 one with VLPIS (256 KiB stride) at 0, then GICv3 ones at 0x40000 and
/// 0x60000, the last marked Last; the region is larger than what they use.
fn redistributor_region() -> FakeFrame {
    let region = FakeFrame::new(0xa0000);
    let typer = 0x8;
    region.write64(typer, 0x0000_0000_0000_0002); // affinity 0.0.0.0, VLPIS
    region.write64(0x40000 + typer, 0x0000_0100_0000_0000); // affinity 0.0.1.0
    region.write64(0x60000 + typer, 0x0000_0101_0000_0010); // affinity 0.0.1.1, Last
    region.write64(0x80000 + typer, 0x0000_0202_0000_0000); // past Last: never read
    region
}

fn find(region: &FakeFrame, size: usize, mpidr: u64) -> Option<Gicv3Redistributor> {
    // SAFETY: the fake region is at least `size` bytes, 8-byte aligned (64 KiB alignment matters only
    // to real hardware) and outlives the drivers.
    unsafe { Gicv3Redistributor::find(region.base(), size, mpidr) }
}

#[test]
fn find_walks_frames_by_stride_until_last() {
    let region = redistributor_region();
    let affinity = |redistributor: Option<Gicv3Redistributor>| redistributor.map(|r| r.affinity());
    assert_eq!(
        affinity(find(&region, 0xa0000, 0)),
        Some(Affinity::from_mpidr(0))
    );
    assert_eq!(
        affinity(find(&region, 0xa0000, 0x100)),
        Some(Affinity::from_mpidr(0x100))
    );
    assert_eq!(
        affinity(find(&region, 0xa0000, 0x101)),
        Some(Affinity::from_mpidr(0x101))
    );
    assert!(find(&region, 0xa0000, 0x202).is_none(), "stops at Last");
    assert!(
        find(&region, 0x60000, 0x101).is_none(),
        "stops at the region's end"
    );
}

#[test]
fn redistributor_handles_only_sgis_and_ppis() {
    let region = redistributor_region();
    let redistributor = find(&region, 0xa0000, 0x100).unwrap();
    let sgi_base = 0x40000 + 0x10000;
    redistributor.enable(intid(27)).unwrap();
    assert_eq!(region.read32(sgi_base + 0x100), 1 << 27);
    redistributor.set_priority(intid(27), 0x40).unwrap();
    assert_eq!(region.read8(sgi_base + 0x400 + 27), 0x40);
    redistributor.set_trigger(intid(16), Trigger::Edge).unwrap();
    assert_eq!(
        region.read32(sgi_base + 0xc04),
        1 << 1,
        "ICFGR1 Int_config[1] of 16"
    );
    assert_eq!(
        redistributor.set_trigger(intid(1), Trigger::Edge),
        Err(GicError::NotConfigurable(intid(1)))
    );
    assert_eq!(
        redistributor.enable(intid(32)),
        Err(GicError::NotPrivate(intid(32)))
    );

    region.write32(0x40000 + 0x14, 0b11); // ProcessorSleep and an IMPLEMENTATION DEFINED bit 0
    redistributor.wake().unwrap();
    assert_eq!(region.read32(0x40000 + 0x14), 0b01);

    redistributor.init_sgi_ppi().unwrap();
    assert_eq!(region.read32(sgi_base + 0x080), u32::MAX, "Group 1");
    assert_eq!(region.read32(sgi_base + 0x180), u32::MAX, "all disabled");
    assert_eq!(region.read8(sgi_base + 0x400 + 31), DEFAULT_PRIORITY);
}

//! Interrupts the domain does not own: RAZ/WI for the guest, reported when it tries to use them.
#![forbid(unsafe_code)]

use super::*;

const GICD_ISENABLER1: u64 = 0x0104;
const GICD_ICENABLER1: u64 = 0x0184;
const GICD_ISPENDR1: u64 = 0x0204;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_IROUTER: u64 = 0x6000;

#[test]
fn enabling_a_foreign_spi_is_ignored_and_reported() {
    let mut vgic = vgic(GicVersion::V3, 2);
    let mut guest = Guest::new(&mut vgic, 1);
    let outcome = guest.gicd_write(
        GICD_ISENABLER1,
        1 << (HARDWARE_SPI - 32) | 1 << (FOREIGN_SPI - 32),
    );
    assert_eq!(
        outcome.ignored,
        Some(IgnoredInterrupts {
            first_intid: FOREIGN_SPI,
            count: 1
        })
    );
    assert_eq!(guest.gicd_read(GICD_ISENABLER1), 1 << (HARDWARE_SPI - 32));
    assert_eq!(
        guest.physical.effects,
        [Effect::Enabled(
            PhysicalInterrupt::Shared {
                intid: HARDWARE_SPI
            },
            true
        )]
    );
    let outcome = guest.gicd_write(GICD_ISPENDR1, 0xFFFF_FFFF);
    let ignored = outcome.ignored.unwrap();
    assert_eq!(ignored.first_intid, 32);
    // 32 bits, minus the passed-through SPI and the eight virtual ones.
    assert_eq!(ignored.count, 32 - 9);
    guest.physical.assert_only_owned();
}

#[test]
fn configuring_a_foreign_spi_is_ignored_silently() {
    let mut vgic = vgic(GicVersion::V3, 2);
    let mut guest = Guest::new(&mut vgic, 0);
    // Linux does these to every SPI at boot, owned or not.
    let priority = guest.gicd_write_byte(GICD_IPRIORITYR + u64::from(FOREIGN_SPI), 0x40);
    let routing = guest.gicd_write64(GICD_IROUTER + 8 * u64::from(FOREIGN_SPI), 1);
    let disable = guest.gicd_write(GICD_ICENABLER1, !0);
    for outcome in [priority, routing, disable] {
        assert_eq!(outcome.ignored, None);
    }
    assert_eq!(
        guest
            .vgic
            .distributor_read(0, GICD_IPRIORITYR + u64::from(FOREIGN_SPI), 1),
        Ok(0)
    );
    assert_eq!(
        guest
            .vgic
            .distributor_read(0, GICD_IROUTER + 8 * u64::from(FOREIGN_SPI), 8),
        Ok(0)
    );
    guest.physical.assert_only_owned();
}

#[test]
fn spis_beyond_the_distributor_do_not_exist() {
    let mut vgic = vgic(GicVersion::V3, 1);
    let mut guest = Guest::new(&mut vgic, 0);
    // 64 SPIs: INTIDs 96 and up read as zero and are not reported.
    let outcome = guest.gicd_write(GICD_ISENABLER1 + 8, !0);
    assert_eq!(outcome, WriteOutcome::default());
    assert_eq!(guest.gicd_read(GICD_ISENABLER1 + 8), 0);
    assert_eq!(
        guest.vgic.distributor_read(0, GICD_IROUTER + 8 * 1019, 8),
        Ok(0)
    );
}

#[test]
fn injecting_a_foreign_interrupt_fails() {
    let mut vgic = vgic(GicVersion::V3, 1);
    assert_eq!(
        vgic.inject(0, FOREIGN_SPI),
        Err(VgicError::NotOwned { intid: FOREIGN_SPI })
    );
    assert_eq!(
        vgic.inject(0, 96),
        Err(VgicError::NoSuchInterrupt { intid: 96 })
    );
    assert_eq!(
        vgic.inject(0, 1023),
        Err(VgicError::NoSuchInterrupt { intid: 1023 })
    );
    assert_eq!(
        vgic.inject(0, u32::MAX),
        Err(VgicError::NoSuchInterrupt { intid: u32::MAX })
    );
    assert_eq!(vgic.inject(1, 27), Err(VgicError::InvalidVcpu { vcpu: 1 }));
    assert!(!vgic.has_pending(0));
}

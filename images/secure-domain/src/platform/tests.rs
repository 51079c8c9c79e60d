//! Device trees from QEMU (hyp-arm's test data) and small hand-written domain trees
//! (`testdata/*.dts`, compiled with `dtc -I dts -O dtb -o <name>.dtb <name>.dts`).

use super::*;

const DOMAIN_GICV3: &[u8] = include_bytes!("../../testdata/domain-gicv3.dtb");
const DOMAIN_GICV2_NO_RTC: &[u8] = include_bytes!("../../testdata/domain-gicv2-no-rtc.dtb");
const TIMER_SPI: &[u8] = include_bytes!("../../testdata/timer-spi.dtb");
const DOMAIN_GICV3_CHANNEL: &[u8] = include_bytes!("../../testdata/domain-gicv3-channel.dtb");
const CHANNELS_SECOND_ENABLED: &[u8] = include_bytes!("../../testdata/channels-second-enabled.dtb");
const CHANNEL_PPI_DOORBELL: &[u8] = include_bytes!("../../testdata/channel-ppi-doorbell.dtb");
const CHANNEL_UNALIGNED: &[u8] = include_bytes!("../../testdata/channel-unaligned.dtb");
const QEMU_VIRT_GICV2: &[u8] =
    include_bytes!("../../../../hyp-arm/testdata/dtb/virt-gicv2-smp1.dtb");
const QEMU_VIRT_GICV3: &[u8] =
    include_bytes!("../../../../hyp-arm/testdata/dtb/virt-gicv3-smp4.dtb");

const IMAGE: u64 = 0x4000_0000;

#[test]
fn domain_tree_with_gicv3_and_rtc() {
    let platform = parse(DOMAIN_GICV3, IMAGE).expect("valid tree");
    assert_eq!(
        platform,
        Platform {
            memory: AddressRange::new(0x4000_0000, 0x100_0000),
            rtc: Some(AddressRange::new(0x901_0000, 0x1000)),
            gic: GicLayout::V3 {
                distributor: AddressRange::new(0x800_0000, 0x1_0000),
                redistributors: AddressRange::new(0x80a_0000, 0xf6_0000),
            },
            virtual_timer_intid: 27,
            cadence_uart: None,
            channel: ChannelLookup::Absent,
        }
    );
    assert_eq!(platform.gic.version(), 3);
}

#[test]
fn gicv2_with_one_cell_addresses_a_disabled_rtc_and_two_memory_nodes() {
    // The image is in the second memory node; the disabled GIC-400 and PL031 are skipped.
    let platform = parse(DOMAIN_GICV2_NO_RTC, IMAGE + 0x20_0000).expect("valid tree");
    assert_eq!(platform.memory, AddressRange::new(0x4000_0000, 0x100_0000));
    assert_eq!(platform.rtc, None);
    assert_eq!(
        platform.gic,
        GicLayout::V2 {
            distributor: AddressRange::new(0x800_0000, 0x1_0000),
            cpu_interface: AddressRange::new(0x801_0000, 0x1_0000),
        }
    );
    assert_eq!(platform.gic.version(), 2);
    assert_eq!(platform.virtual_timer_intid, 27);
}

#[test]
fn qemu_virt_trees() {
    // Bare QEMU: the bare-qemu variant is linked at 0x4020_0000.
    let v2 = parse(QEMU_VIRT_GICV2, 0x4020_0000).expect("QEMU's GICv2 tree");
    assert_eq!(v2.gic.version(), 2);
    assert_eq!(v2.gic.regions()[0].base, 0x800_0000);
    assert_eq!(v2.gic.regions()[1].base, 0x801_0000);
    assert_eq!(v2.rtc.map(|rtc| rtc.base), Some(0x901_0000));
    assert_eq!(v2.memory.base, 0x4000_0000);
    let v3 = parse(QEMU_VIRT_GICV3, 0x4020_0000).expect("QEMU's GICv3 tree");
    assert_eq!(v3.gic.version(), 3);
    assert_eq!(v3.gic.regions()[1].base, 0x80a_0000);
    assert_eq!(v3.virtual_timer_intid, 27);
    assert_eq!(v2.channel, ChannelLookup::Absent);
    assert_eq!(v3.channel, ChannelLookup::Absent);
}

#[test]
fn the_channel_node_hyp_arm_generates() {
    let platform = parse(DOMAIN_GICV3_CHANNEL, IMAGE).expect("valid tree");
    assert_eq!(
        platform.channel,
        ChannelLookup::Found(ChannelNode {
            index: 0,
            region: AddressRange::new(0x4100_0000, 0x1_0000),
            doorbell_intid: 91,
        })
    );
    assert_eq!(platform.rtc, None);
}

#[test]
fn a_disabled_channel_keeps_its_index() {
    let platform = parse(CHANNELS_SECOND_ENABLED, IMAGE).expect("valid tree");
    assert_eq!(
        platform.channel,
        ChannelLookup::Found(ChannelNode {
            index: 1,
            region: AddressRange::new(0x4120_0000, 0x8000),
            doorbell_intid: 92,
        })
    );
}

#[test]
fn broken_channel_nodes_leave_the_platform_usable() {
    let platform = parse(CHANNEL_PPI_DOORBELL, IMAGE).expect("the domain can still run");
    assert_eq!(platform.virtual_timer_intid, 27);
    let ChannelLookup::Unusable { index: 0, error } = platform.channel else {
        panic!("unusable channel 0 expected, got {:?}", platform.channel);
    };
    assert_eq!(error, ChannelNodeError::NotAnSpi { kind: 1 });
    assert_eq!(
        error.to_string(),
        "its doorbell has interrupt type 1; it must be an SPI (type 0)"
    );
    let platform = parse(CHANNEL_UNALIGNED, IMAGE).expect("the domain can still run");
    let region = AddressRange::new(0x4100_0800, 0x1_0000);
    assert_eq!(
        platform.channel,
        ChannelLookup::Unusable {
            index: 0,
            error: ChannelNodeError::BadRegion { region }
        }
    );
    assert_eq!(
        ChannelNodeError::BadRegion { region }.to_string(),
        "its region 0x41000800 (+0x10000) is empty, wraps, or is not 4096-byte aligned"
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let message =
        |result: Result<Platform, PlatformError>| result.expect_err("must fail").to_string();
    assert_eq!(
        message(parse(DOMAIN_GICV3, 0x8000_0000)),
        "no memory node in the device tree contains the image at 0x80000000"
    );
    assert_eq!(
        message(parse(TIMER_SPI, IMAGE)),
        "the arm,armv8-timer node's interrupts: the virtual timer (third entry) is not a PPI"
    );
    assert_eq!(
        message(parse(&[0u8; 64], IMAGE)),
        "x0 does not point to a valid flattened device tree"
    );
    assert_eq!(
        message(parse(&DOMAIN_GICV3[..40], IMAGE)),
        "x0 does not point to a valid flattened device tree"
    );
}

#[test]
fn address_ranges() {
    let range = AddressRange::new(0x1000, 0x1000);
    assert!(range.contains(0x1000) && range.contains(0x1fff));
    assert!(!range.contains(0x2000) && !range.contains(0xfff));
    let top = AddressRange::new(u64::MAX - 1, 16);
    assert_eq!(top.end(), None);
    assert!(top.contains(u64::MAX));
}

/// Debian's ZCU102 tree: the GIC and the UARTs sit under /axi, a `simple-bus` with an empty
/// `ranges`.
const ZCU102: &[u8] =
    include_bytes!("../../../../hyp-arm/testdata/dtb/real-boards/zynqmp-zcu102-rev1.0.dtb");

#[test]
fn zcu102_devices_under_an_identity_mapped_bus() {
    let platform = parse(ZCU102, IMAGE).expect("valid tree");
    assert_eq!(platform.memory, AddressRange::new(0, 0x8000_0000));
    assert_eq!(
        platform.gic,
        GicLayout::V2 {
            distributor: AddressRange::new(0xf901_0000, 0x1_0000),
            cpu_interface: AddressRange::new(0xf902_0000, 0x2_0000),
        }
    );
    assert_eq!(platform.virtual_timer_intid, 27);
    // The first enabled Cadence UART (hyp-arm's domain tree leaves the domain only its own).
    assert_eq!(
        platform.cadence_uart,
        Some(AddressRange::new(0xff00_0000, 0x1000))
    );
    assert_eq!(platform.rtc, None);
}

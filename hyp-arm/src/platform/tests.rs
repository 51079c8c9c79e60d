//! `Platform::parse` on QEMU-generated and hand-written trees, and on malformed blobs.
#![forbid(unsafe_code)]

use super::*;

pub(crate) const VIRT_GICV2_SMP1: &[u8] = include_bytes!("../../testdata/dtb/virt-gicv2-smp1.dtb");
pub(crate) const VIRT_GICV2_SMP4: &[u8] = include_bytes!("../../testdata/dtb/virt-gicv2-smp4.dtb");
pub(crate) const VIRT_GICV3_SMP1: &[u8] = include_bytes!("../../testdata/dtb/virt-gicv3-smp1.dtb");
pub(crate) const VIRT_GICV3_SMP4: &[u8] = include_bytes!("../../testdata/dtb/virt-gicv3-smp4.dtb");
/// QEMU 7.2 with two `-device guest-loader` (kernel with bootargs at 0x48000000, initrd at 0x47000000).
pub(crate) const VIRT_GICV3_MODULES: &[u8] =
    include_bytes!("../../testdata/dtb/virt-gicv3-smp4-modules.dtb");
/// Hand-written (testdata/dtb/bus.dts): nested simple buses, spin-table CPUs, GIC-400, aliases.
pub(crate) const BUS: &[u8] = include_bytes!("../../testdata/dtb/bus.dtb");

const ALL_VIRT: [(&str, &[u8], usize, GicVersion); 5] = [
    ("virt-gicv2-smp1", VIRT_GICV2_SMP1, 1, GicVersion::V2),
    ("virt-gicv2-smp4", VIRT_GICV2_SMP4, 4, GicVersion::V2),
    ("virt-gicv3-smp1", VIRT_GICV3_SMP1, 1, GicVersion::V3),
    ("virt-gicv3-smp4", VIRT_GICV3_SMP4, 4, GicVersion::V3),
    (
        "virt-gicv3-smp4-modules",
        VIRT_GICV3_MODULES,
        4,
        GicVersion::V3,
    ),
];

fn parse(dtb: &[u8]) -> Platform<'_> {
    Platform::parse(dtb).unwrap_or_else(|error| panic!("fixture must parse: {error}"))
}

/// The device at `path`, which must exist and be well-formed.
fn device<'dtb>(platform: &Platform<'dtb>, path: &str) -> Device<'dtb> {
    match platform.device(path) {
        Some(Ok(device)) => device,
        Some(Err(error)) => panic!("{path}: {error}"),
        None => panic!("{path} is not a device"),
    }
}

fn error_of(dtb: &[u8]) -> String {
    match Platform::parse(dtb) {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn qemu_virt_cpus_memory_timer_psci_console() {
    for (name, dtb, cpu_count, _) in ALL_VIRT {
        let platform = parse(dtb);
        assert_eq!(platform.cpus.len(), cpu_count, "{name}");
        // QEMU gives a lone CPU no enable-method: there is nothing to start.
        let enable_method = if cpu_count == 1 {
            EnableMethod::None
        } else {
            EnableMethod::Psci
        };
        for (index, cpu) in platform.cpus.iter().enumerate() {
            assert_eq!(
                cpu,
                &Cpu {
                    mpidr: index as u64,
                    enable_method
                },
                "{name}"
            );
        }
        assert_eq!(platform.cpu_compatible, "arm,cortex-a57", "{name}");
        assert_eq!(
            platform.memory.as_slice(),
            &[MemoryRange::new(0x4000_0000, 0x8000_0000)],
            "{name}"
        );
        assert!(platform.reserved.is_empty(), "{name}");
        assert_eq!(
            platform.timer,
            Timer {
                secure_phys: 29,
                nonsecure_phys: 30,
                virtual_timer: 27,
                hyp_phys: 26,
                hyp_virtual: None,
                clock_frequency: None
            },
            "{name}"
        );
        assert_eq!(
            platform.psci,
            Some(Psci {
                method: PsciMethod::Smc,
                version: PsciVersion::V1_0
            }),
            "{name}"
        );
        let console = platform.console.as_ref().expect("QEMU sets stdout-path");
        assert_eq!(console.path, "/pl011@9000000", "{name}");
        assert_eq!(console.compatible, "arm,pl011", "{name}");
        assert_eq!(
            (console.base, console.size, console.options),
            (0x0900_0000, 0x1000, None),
            "{name}"
        );
        assert_eq!(platform.gic.maintenance_intid, 25, "{name}");
        assert_eq!(platform.gic.path, "/intc@8000000", "{name}");
        assert_eq!(platform.bootargs, None, "{name}");
    }
}

#[test]
fn qemu_virt_gic_frames() {
    for (name, dtb, _, version) in ALL_VIRT {
        let platform = parse(dtb);
        assert_eq!(platform.gic.version(), version, "{name}");
        assert_eq!(
            platform.gic.distributor(),
            MemoryRange::new(0x0800_0000, 0x10000),
            "{name}"
        );
        assert_eq!(platform.gic.interrupt_cells, 3, "{name}");
        assert!(platform.gic.phandle.is_some(), "{name}");
        match &platform.gic.regions {
            GicRegions::V2 {
                cpu_interface,
                hyp_interface,
                virtual_cpu_interface,
                ..
            } => {
                assert_eq!(cpu_interface.base, 0x0801_0000, "{name}");
                assert_eq!(hyp_interface.base, 0x0803_0000, "{name}");
                assert_eq!(virtual_cpu_interface.base, 0x0804_0000, "{name}");
            }
            GicRegions::V3 {
                redistributors,
                cpu_interface,
                ..
            } => {
                assert_eq!(
                    redistributors.as_slice(),
                    &[MemoryRange::new(0x080a_0000, 0xf6_0000)],
                    "{name}"
                );
                assert_eq!(*cpu_interface, None, "{name}");
            }
        }
    }
}

#[test]
fn qemu_virt_devices() {
    let platform = parse(VIRT_GICV3_SMP4);
    let uart = device(&platform, "/pl011@9000000");
    assert_eq!(uart.compatible, Some("arm,pl011"));
    assert_eq!(
        uart.regs.as_slice(),
        &[MemoryRange::new(0x0900_0000, 0x1000)]
    );
    assert_eq!(uart.spis.as_slice(), &[33]);
    assert!(uart.enabled && !uart.is_pci_host_bridge && uart.is_assignable());
    // Compatible claims match any string of the list, not only the first.
    assert!(uart.is_compatible("arm,pl011") && uart.is_compatible("arm,primecell"));
    assert!(!uart.is_compatible("arm,pl031") && !uart.is_compatible("arm"));
    let rtc = device(&platform, "/pl031@9010000");
    assert_eq!(rtc.spis.as_slice(), &[34]);
    let flash = device(&platform, "/flash@0");
    assert_eq!(
        flash.regs.as_slice(),
        &[
            MemoryRange::new(0, 0x400_0000),
            MemoryRange::new(0x400_0000, 0x400_0000)
        ]
    );
    assert!(flash.spis.is_empty());
    let pcie = device(&platform, "/pcie@10000000");
    assert!(pcie.is_pci_host_bridge && !pcie.is_assignable());
    assert_eq!(
        pcie.regs.as_slice(),
        &[MemoryRange::new(0x40_1000_0000, 0x1000_0000)]
    );
    let virtio = platform
        .devices()
        .filter_map(Result::ok)
        .filter(|device| device.compatible == Some("virtio,mmio"))
        .count();
    assert_eq!(virtio, 32);
    // Not devices: memory, CPUs, the GIC and its ITS, /chosen, nodes without `reg`.
    for absent in [
        "/memory@40000000",
        "/intc@8000000",
        "/intc@8000000/its@8080000",
        "/timer",
        "/apb-pclk",
        "/psci",
    ] {
        assert!(platform.device(absent).is_none(), "{absent}");
    }
    assert!(platform
        .devices()
        .all(|device| device.is_ok_and(|device| !device.path.starts_with("/cpus"))));
}

#[test]
fn qemu_guest_loader_modules() {
    let platform = parse(VIRT_GICV3_MODULES);
    assert_eq!(
        platform.boot_modules.as_slice(),
        &[
            BootModule {
                kind: BootModuleKind::Ramdisk,
                range: MemoryRange::new(0x4700_0000, 0xf_12dc),
                bootargs: None
            },
            BootModule {
                kind: BootModuleKind::Kernel,
                range: MemoryRange::new(0x4800_0000, 0x1f6_dfc0),
                bootargs: Some("console=ttyAMA0")
            },
        ]
    );
}

#[test]
fn hand_written_buses_spin_table_aliases() {
    let platform = parse(BUS);
    assert_eq!(
        platform.cpus.as_slice(),
        &[
            Cpu {
                mpidr: 0,
                enable_method: EnableMethod::SpinTable { release_addr: 0xd8 }
            },
            Cpu {
                mpidr: 0x100,
                enable_method: EnableMethod::SpinTable { release_addr: 0xe0 }
            },
        ]
    );
    assert_eq!(platform.psci, None);
    assert_eq!(
        platform.memory.as_slice(),
        &[
            MemoryRange::new(0x8000_0000, 0x4000_0000),
            MemoryRange::new(0x8_8000_0000, 0x4000_0000)
        ]
    );
    assert_eq!(
        platform.reserved.as_slice(),
        &[
            MemoryRange::new(0x8000_0000, 0x1000),
            MemoryRange::new(0xbf00_0000, 0x10_0000)
        ]
    );
    // GIC-400 under /soc: child address 0x40041000 through soc's ranges to 0xff841000.
    let GicRegions::V2 {
        distributor,
        cpu_interface,
        hyp_interface,
        virtual_cpu_interface,
    } = platform.gic.regions
    else {
        panic!("GIC-400 is a GICv2");
    };
    assert_eq!(distributor, MemoryRange::new(0xff84_1000, 0x1000));
    assert_eq!(cpu_interface, MemoryRange::new(0xff84_2000, 0x2000));
    assert_eq!(hyp_interface, MemoryRange::new(0xff84_4000, 0x2000));
    assert_eq!(virtual_cpu_interface, MemoryRange::new(0xff84_6000, 0x2000));
    assert_eq!(platform.gic.maintenance_intid, 25);
    assert_eq!(platform.timer.nonsecure_phys, 30);
    assert_eq!(platform.timer.clock_frequency, Some(54_000_000));
    // Console through an alias with options; UART two buses deep, translated twice.
    let console = platform.console.as_ref().expect("console");
    assert_eq!(console.path, "/soc/apb@7e200000/serial@1000");
    assert_eq!(
        (console.base, console.size, console.options),
        (0xfe20_1000, 0x200, Some("115200n8"))
    );
    let uart = device(&platform, "/soc/apb@7e200000/serial@1000");
    assert_eq!(uart.spis.as_slice(), &[32 + 57]);
    // Interrupts to a GPIO controller are not SPIs; interrupts-extended to the GIC are.
    let button = device(&platform, "/soc/button@7e300000");
    assert!(button.spis.is_empty());
    let mailbox = device(&platform, "/soc/mailbox@7e00b880");
    assert_eq!(mailbox.spis.as_slice(), &[32 + 33]);
    let disabled = device(&platform, "/soc/spi@7e204000");
    assert!(!disabled.enabled);
    // A device with `ranges` contains devices, listed after it.
    let wrapper = device(&platform, "/soc/wrapper@7e400000");
    assert_eq!(
        wrapper.regs.as_slice(),
        &[MemoryRange::new(0xfe40_0000, 0x1000)]
    );
    let inner = device(&platform, "/soc/wrapper@7e400000/serial@7e410000");
    assert_eq!(
        inner.regs.as_slice(),
        &[MemoryRange::new(0xfe41_0000, 0x100)]
    );
    // A node without `ranges` does not map its children: they are not devices.
    assert!(platform.device("/i2c-bus/eeprom@50").is_none());
    assert_eq!(platform.bootargs, Some("hyp.log=debug"));
}

// ---- malformed input ----

fn with_header_field(dtb: &[u8], index: usize, value: u32) -> Vec<u8> {
    let mut copy = dtb.to_vec();
    copy[index * 4..index * 4 + 4].copy_from_slice(&value.to_be_bytes());
    copy
}

#[test]
fn truncated_and_corrupt_blobs_are_rejected() {
    assert_eq!(
        error_of(&VIRT_GICV3_SMP1[..20]),
        "device tree blob: 20 bytes, shorter than the 40-byte header"
    );
    assert_eq!(
        error_of(&VIRT_GICV3_SMP1[..4000]),
        format!(
            "device tree blob: header says {} bytes but only 4000 are available (truncated)",
            VIRT_GICV3_SMP1.len()
        )
    );
    assert_eq!(
        error_of(&with_header_field(VIRT_GICV3_SMP1, 0, 0x1234_5678)),
        "device tree blob: bad magic 0x12345678 (expected 0xd00dfeed): not a DTB"
    );
    // Structure block claimed larger than the blob.
    let error = error_of(&with_header_field(VIRT_GICV3_SMP1, 9, 0x10_0000));
    assert!(
        error.starts_with("device tree blob: structure block at offset 0x38, size 0x100000"),
        "{error}"
    );
    // Structure block cut short: the walk runs off its end.
    let error = error_of(&with_header_field(VIRT_GICV3_SMP1, 9, 0x100));
    assert!(
        error.contains("runs past the structure block") || error.contains("no FDT_END"),
        "{error}"
    );
}

#[test]
fn truncations_and_byte_flips_give_errors_never_panics() {
    // The small hand-written tree exercises the most code per byte: buses, aliases, spin-tables.
    let dtb = BUS;
    for length in (0..dtb.len()).step_by(11) {
        let _ = Platform::parse(&dtb[..length]);
        if length >= 40 {
            // Also claim the shorter length as the total size, so the structure walk itself is cut.
            let _ = Platform::parse(&with_header_field(&dtb[..length], 1, length as u32));
        }
    }
    let mut corrupted = dtb.to_vec();
    for index in (40..dtb.len()).step_by(3) {
        for flip in [0x01, 0xff] {
            corrupted[index] ^= flip;
            if let Ok(platform) = Platform::parse(&corrupted) {
                // Whatever parsed must also be walkable.
                let _ = platform.devices().count();
            }
            corrupted[index] ^= flip;
        }
    }
}

/// Compiled from testdata/dtb/bad-*.dts: each must fail with the message given.
#[test]
fn bad_trees_name_the_node_and_property() {
    let cases: [(&[u8], &str); 6] = [
        (include_bytes!("../../testdata/dtb/bad-no-gic.dtb"), "no GIC: no enabled node is compatible with arm,gic-400, arm,cortex-a15-gic, arm,cortex-a7-gic, arm,gic-v2, qcom,msm-qgic2 or arm,gic-v3"),
        (
            include_bytes!("../../testdata/dtb/bad-gicv2-no-gich.dtb"),
            "/intc@8000000: `reg` has 2 entries, the hypervisor needs virtualization extensions: no GICH/GICV (3rd and 4th entries)",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-gicv2-one-reg.dtb"),
            "/intc@8000000: `reg` has 1 entry, a GICv2 needs at least 2 (distributor, CPU interface)",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-reg-length.dtb"),
            "/uart@9000000: `reg` is 12 bytes, not a whole number of entries of 2 address + 2 size cells (16 bytes)",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-timer-spi.dtb"),
            "/timer: `interrupts` entry 1: a timer interrupt must be a PPI",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-stdout-path.dtb"),
            "/chosen: `stdout-path` \"serial7:115200\" names no node",
        ),
    ];
    for (dtb, expected) in cases {
        assert_eq!(error_of(dtb), expected);
    }
}

#[test]
fn missing_required_nodes_are_named() {
    let cases: [(&[u8], &str); 3] = [
        (
            include_bytes!("../../testdata/dtb/bad-no-memory.dtb"),
            "no memory: no root-level node with device_type = \"memory\" has a non-empty `reg`",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-no-timer.dtb"),
            "no generic timer: no enabled node is compatible with arm,armv8-timer",
        ),
        (
            include_bytes!("../../testdata/dtb/bad-no-cpus.dtb"),
            "no CPU: /cpus has no node with device_type = \"cpu\"",
        ),
    ];
    for (dtb, expected) in cases {
        assert_eq!(error_of(dtb), expected);
    }
}

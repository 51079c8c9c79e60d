//! Guest trees built from the QEMU and hand-written fixtures, read back with the `fdt` crate.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::*;
use crate::platform::tests::{
    BUS, VIRT_GICV2_SMP1, VIRT_GICV2_SMP4, VIRT_GICV3_MODULES, VIRT_GICV3_SMP1, VIRT_GICV3_SMP4,
};
use crate::platform::{Device, GicVersion};

const GUEST_MEMORY: MemoryRange = MemoryRange::new(0x4000_0000, 0x2000_0000);
const INITRD: MemoryRange = MemoryRange::new(0x4800_0000, 0x10_0000);

fn owns_uart_and_first_virtio(device: &Device<'_>) -> bool {
    device.path == "/pl011@9000000" || device.path == "/virtio_mmio@a000000"
}

fn spec<'a>(vcpus: u32, owns_device: &'a dyn Fn(&Device<'_>) -> bool) -> GuestDtSpec<'a> {
    GuestDtSpec {
        vcpus,
        memory: GUEST_MEMORY,
        initrd: Some(INITRD),
        bootargs: "console=ttyAMA0 earlycon",
        owns_device,
        virtual_devices: &[],
    }
}

fn build(platform: &Platform<'_>, spec: &GuestDtSpec<'_>) -> Vec<u8> {
    let mut buffer = vec![0u8; 64 * 1024];
    let size =
        build_guest_dt(platform, spec, &mut buffer).unwrap_or_else(|error| panic!("{error}"));
    buffer.truncate(size);
    crate::platform::blob::validate(&buffer)
        .unwrap_or_else(|error| panic!("output is not a valid FDT: {error}"));
    buffer
}

fn cells(value: &[u8]) -> Vec<u32> {
    value
        .chunks_exact(4)
        .map(|cell| u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]))
        .collect()
}

fn property<'a>(fdt: &Fdt<'a>, path: &str, name: &str) -> Option<&'a [u8]> {
    fdt.find_node(path)?
        .property(name)
        .map(|property| property.value)
}

fn string<'a>(fdt: &Fdt<'a>, path: &str, name: &str) -> Option<&'a str> {
    fdt.find_node(path)?.property(name)?.as_str()
}

#[test]
fn qemu_virt_guests_see_their_cpus_memory_psci_gic_and_chosen() {
    let fixtures = [
        VIRT_GICV2_SMP1,
        VIRT_GICV2_SMP4,
        VIRT_GICV3_SMP1,
        VIRT_GICV3_SMP4,
        VIRT_GICV3_MODULES,
    ];
    for (index, host) in fixtures.into_iter().enumerate() {
        let platform = Platform::parse(host).expect("fixture parses");
        for vcpus in [1, 2, 4] {
            let blob = build(&platform, &spec(vcpus, &owns_uart_and_first_virtio));
            let guest = Fdt::new(&blob).expect("fdt reads it");
            let context = format!("fixture {index}, {vcpus} vCPUs");

            let cpus: Vec<_> = guest
                .find_node("/cpus")
                .expect("/cpus")
                .children()
                .collect();
            assert_eq!(cpus.len(), vcpus as usize, "{context}");
            for (number, cpu) in cpus.iter().enumerate() {
                assert_eq!(cpu.name, format!("cpu@{number:x}"), "{context}");
                assert_eq!(
                    cells(cpu.property("reg").expect("reg").value),
                    [number as u32],
                    "{context}"
                );
                assert_eq!(
                    cpu.property("enable-method").and_then(|p| p.as_str()),
                    Some("psci"),
                    "{context}"
                );
                assert_eq!(
                    cpu.property("compatible").and_then(|p| p.as_str()),
                    Some("arm,cortex-a57"),
                    "{context}"
                );
            }

            let memory: Vec<_> = guest
                .find_node("/")
                .expect("root")
                .children()
                .filter(|node| node.name.starts_with("memory"))
                .collect();
            assert_eq!(memory.len(), 1, "{context}");
            assert_eq!(memory[0].name, "memory@40000000", "{context}");
            assert_eq!(
                cells(memory[0].property("reg").expect("reg").value),
                [0, 0x4000_0000, 0, 0x2000_0000],
                "{context}"
            );

            assert_eq!(string(&guest, "/psci", "method"), Some("hvc"), "{context}");
            let psci = guest
                .find_node("/psci")
                .and_then(|node| node.compatible())
                .expect("compatible");
            assert_eq!(
                psci.all().collect::<Vec<_>>(),
                ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"],
                "{context}"
            );

            let gic = guest
                .find_node("/intc@8000000")
                .expect("the GIC keeps its path");
            assert!(
                gic.property("interrupts").is_none(),
                "{context}: no maintenance interrupt"
            );
            assert_eq!(gic.children().count(), 0, "{context}: no ITS or GICv2m");
            let reg = cells(gic.property("reg").expect("reg").value);
            match platform.gic.version() {
                GicVersion::V2 => assert_eq!(
                    reg,
                    [0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x2000],
                    "{context}"
                ),
                GicVersion::V3 => {
                    assert_eq!(
                        reg,
                        [
                            0,
                            0x0800_0000,
                            0,
                            0x1_0000,
                            0,
                            0x080a_0000,
                            0,
                            vcpus * 0x2_0000
                        ],
                        "{context}"
                    );
                    assert_eq!(
                        property(&guest, "/intc@8000000", "#redistributor-regions").map(cells),
                        Some(vec![1])
                    );
                }
            }

            assert_eq!(
                string(&guest, "/chosen", "bootargs"),
                Some("console=ttyAMA0 earlycon"),
                "{context}"
            );
            assert_eq!(
                property(&guest, "/chosen", "linux,initrd-start").map(cells),
                Some(vec![0, 0x4800_0000])
            );
            assert_eq!(
                property(&guest, "/chosen", "linux,initrd-end").map(cells),
                Some(vec![0, 0x4810_0000])
            );
            assert_eq!(
                string(&guest, "/chosen", "stdout-path"),
                Some("/pl011@9000000"),
                "{context}"
            );
            assert!(
                property(&guest, "/chosen", "kaslr-seed").is_some(),
                "{context}"
            );
            assert_eq!(
                guest
                    .find_node("/chosen")
                    .expect("chosen")
                    .children()
                    .count(),
                0,
                "{context}: no boot modules"
            );

            for present in [
                "/pl011@9000000",
                "/virtio_mmio@a000000",
                "/platform-bus@c000000",
                "/timer",
                "/apb-pclk",
                "/pmu",
            ] {
                assert!(
                    guest.find_node(present).is_some(),
                    "{context}: {present} kept"
                );
            }
            for absent in [
                "/pl031@9010000",
                "/virtio_mmio@a000200",
                "/pcie@10000000",
                "/flash@0",
                "/fw-cfg@9020000",
                "/pl061@9030000",
            ] {
                assert!(
                    guest.find_node(absent).is_none(),
                    "{context}: {absent} dropped"
                );
            }
            // Phandles are the host's: the root still points at the GIC.
            assert_eq!(
                property(&guest, "/", "interrupt-parent").map(cells),
                platform.gic.phandle.map(|phandle| vec![phandle])
            );
        }
    }
}

#[test]
fn guest_trees_show_no_virtualization_extensions_to_the_host_parser() {
    let platform = Platform::parse(VIRT_GICV2_SMP4).expect("fixture");
    let blob = build(&platform, &spec(2, &owns_uart_and_first_virtio));
    assert_eq!(
        Platform::parse(&blob).expect_err("no GICH/GICV").to_string(),
        "/intc@8000000: `reg` has 2 entries, the hypervisor needs virtualization extensions: no GICH/GICV (3rd and 4th entries)"
    );
    let platform = Platform::parse(VIRT_GICV3_SMP4).expect("fixture");
    let blob = build(&platform, &spec(2, &owns_uart_and_first_virtio));
    assert_eq!(
        Platform::parse(&blob)
            .expect_err("no maintenance interrupt")
            .to_string(),
        "/intc@8000000: no `interrupts`, needed for the virtual interface maintenance interrupt"
    );
}

#[test]
fn stdout_path_only_when_the_uart_is_owned() {
    let platform = Platform::parse(VIRT_GICV3_SMP1).expect("fixture");
    let owns_nothing = |_: &Device<'_>| false;
    let blob = build(
        &platform,
        &GuestDtSpec {
            initrd: None,
            ..spec(1, &owns_nothing)
        },
    );
    let guest = Fdt::new(&blob).expect("fdt");
    assert!(guest.find_node("/pl011@9000000").is_none());
    assert_eq!(string(&guest, "/chosen", "stdout-path"), None);
    assert_eq!(property(&guest, "/chosen", "linux,initrd-start"), None);
}

#[test]
fn buses_aliases_and_a_host_without_psci() {
    let platform = Platform::parse(BUS).expect("fixture");
    let owns = |device: &Device<'_>| device.compatible == Some("arm,pl011");
    let blob = build(&platform, &spec(2, &owns));
    let guest = Fdt::new(&blob).expect("fdt");
    // The GIC under /soc keeps its untranslated (bus-relative) addresses.
    assert_eq!(
        property(&guest, "/soc/interrupt-controller@40041000", "reg").map(cells),
        Some(vec![0x4004_1000, 0x1000, 0x4004_2000, 0x2000])
    );
    assert!(guest.find_node("/soc/apb@7e200000/serial@1000").is_some());
    for absent in [
        "/soc/gpio@7e215000",
        "/soc/button@7e300000",
        "/soc/wrapper@7e400000",
        "/reserved-memory",
    ] {
        assert!(guest.find_node(absent).is_none(), "{absent} dropped");
    }
    // Aliases survive only with their targets; stdout-path goes through the alias.
    assert_eq!(
        string(&guest, "/aliases", "serial0"),
        Some("/soc/apb@7e200000/serial@1000")
    );
    assert_eq!(string(&guest, "/aliases", "gpio0"), None);
    assert_eq!(
        string(&guest, "/chosen", "stdout-path"),
        Some("serial0:115200n8")
    );
    // The host boots CPUs by spin-table and has no PSCI; the guest gets PSCI over HVC.
    assert_eq!(string(&guest, "/psci", "method"), Some("hvc"));
    assert_eq!(string(&guest, "/cpus/cpu@1", "enable-method"), Some("psci"));
    assert_eq!(
        string(&guest, "/cpus/cpu@1", "compatible"),
        Some("arm,cortex-a72")
    );
    // Root cells are 2 + 1 here.
    assert_eq!(
        property(&guest, "/memory@40000000", "reg").map(cells),
        Some(vec![0, 0x4000_0000, 0x2000_0000])
    );
    // The bus without `ranges` has no reg and is kept as is.
    assert!(guest.find_node("/i2c-bus/eeprom@50").is_some());
}

#[test]
fn owning_a_device_inside_an_unowned_one_is_an_error() {
    let platform = Platform::parse(BUS).expect("fixture");
    let owns = |device: &Device<'_>| device.compatible == Some("test,uart");
    let mut buffer = vec![0u8; 16 * 1024];
    let error = build_guest_dt(&platform, &spec(1, &owns), &mut buffer)
        .expect_err("inner device without its wrapper");
    assert_eq!(
        error.to_string(),
        "/soc/wrapper@7e400000/serial@7e410000 is given to the guest but /soc/wrapper@7e400000, which contains it, \
         is not: give both or neither"
    );
    let owns_both =
        |device: &Device<'_>| matches!(device.compatible, Some("test,uart" | "test,wrapper"));
    let blob = build(&platform, &spec(1, &owns_both));
    let guest = Fdt::new(&blob).expect("fdt");
    assert!(guest
        .find_node("/soc/wrapper@7e400000/serial@7e410000")
        .is_some());
}

#[test]
fn invalid_specs_are_rejected() {
    let platform = Platform::parse(VIRT_GICV2_SMP4).expect("fixture");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut error_of = |spec: GuestDtSpec<'_>| {
        build_guest_dt(&platform, &spec, &mut buffer)
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        error_of(spec(0, &owns_uart_and_first_virtio)),
        "0 vCPUs: a guest needs 1 to 8 (a GICv2 addresses 8 CPU interfaces)"
    );
    assert_eq!(
        error_of(spec(9, &owns_uart_and_first_virtio)),
        "9 vCPUs: a guest needs 1 to 8 (a GICv2 addresses 8 CPU interfaces)"
    );
    assert_eq!(
        error_of(GuestDtSpec {
            initrd: Some(MemoryRange::new(0x5ff0_0000, 0x20_0000)),
            ..spec(1, &owns_uart_and_first_virtio)
        }),
        "the initrd at 0x5ff00000..0x60100000 is outside guest memory 0x40000000..0x60000000"
    );
    assert_eq!(
        error_of(GuestDtSpec { memory: MemoryRange::new(0x4000_0000, 0), ..spec(1, &owns_uart_and_first_virtio) }),
        "guest memory at 0x40000000 of size 0x0 is empty or does not fit the root's #address-cells/#size-cells"
    );
    let owns_pci = |device: &Device<'_>| device.is_pci_host_bridge;
    assert_eq!(
        error_of(spec(1, &owns_pci)),
        "/pcie@10000000: PCI host bridges cannot be given to a guest yet (needs ITS and SMMU support)"
    );
    let platform = Platform::parse(VIRT_GICV3_SMP4).expect("fixture");
    let owns = owns_uart_and_first_virtio;
    assert!(build_guest_dt(&platform, &spec(16, &owns), &mut vec![0u8; 64 * 1024]).is_ok());
    assert!(build_guest_dt(&platform, &spec(17, &owns), &mut vec![0u8; 64 * 1024]).is_err());
}

#[test]
fn a_buffer_too_small_is_an_error() {
    let platform = Platform::parse(VIRT_GICV3_SMP4).expect("fixture");
    let size = build(&platform, &spec(4, &owns_uart_and_first_virtio)).len();
    for capacity in (0..size).step_by(61).chain([size - 1]) {
        let mut buffer = vec![0u8; capacity];
        match build_guest_dt(
            &platform,
            &spec(4, &owns_uart_and_first_virtio),
            &mut buffer,
        ) {
            Err(GuestDtError::Write {
                error: FdtWriterError::BufferTooSmall { capacity: reported },
                ..
            }) => {
                assert_eq!(reported, capacity)
            }
            other => panic!("capacity {capacity}: expected BufferTooSmall, got {other:?}"),
        }
    }
    assert_eq!(
        build_guest_dt(
            &platform,
            &spec(4, &owns_uart_and_first_virtio),
            &mut vec![0u8; size]
        ),
        Ok(size)
    );
}

#[test]
fn corrupted_hosts_that_parse_build_or_fail_cleanly() {
    let owns_everything = |_: &Device<'_>| true;
    let owns_uarts = |device: &Device<'_>| device.compatible == Some("arm,pl011");
    let mut buffer = vec![0u8; 16 * 1024];
    let mut corrupted = BUS.to_vec();
    for index in (40..BUS.len()).step_by(5) {
        for flip in [0x01, 0xff] {
            corrupted[index] ^= flip;
            if let Ok(platform) = Platform::parse(&corrupted) {
                for owns in [
                    &owns_everything as &dyn Fn(&Device<'_>) -> bool,
                    &owns_uarts,
                ] {
                    if let Ok(size) = build_guest_dt(&platform, &spec(1, owns), &mut buffer) {
                        crate::platform::blob::validate(&buffer[..size])
                            .expect("any output is a valid FDT");
                    }
                }
            }
            corrupted[index] ^= flip;
        }
    }
}

#[test]
fn virtual_devices_are_added_at_the_root_with_their_interrupt() {
    let platform = Platform::parse(VIRT_GICV3_SMP1).expect("fixture");
    let devices = [VirtualDevice {
        name: "virtio_mmio",
        compatible: "virtio,mmio",
        reg: MemoryRange::new(0x0b20_0000, 0x200),
        interrupt: 90,
        dma_coherent: true,
    }];
    let blob = build(
        &platform,
        &GuestDtSpec {
            virtual_devices: &devices,
            ..spec(1, &owns_uart_and_first_virtio)
        },
    );
    let guest = Fdt::new(&blob).expect("fdt");
    let node = guest
        .find_node("/virtio_mmio@b200000")
        .expect("the virtual device");
    assert_eq!(node.compatible().map(|c| c.first()), Some("virtio,mmio"));
    let region = node.reg().and_then(|mut r| r.next()).expect("reg");
    assert_eq!(
        (region.starting_address as u64, region.size),
        (0x0b20_0000, Some(0x200))
    );
    assert_eq!(
        property(&guest, "/virtio_mmio@b200000", "interrupts"),
        Some(&[0, 0, 0, 0, 0, 0, 0, 58, 0, 0, 0, 4][..])
    );
    assert!(node.property("dma-coherent").is_some());
}

//! `Platform::parse` on the device trees that Debian's arm64 kernel ships for six real boards
//! (testdata/dtb/real-boards/README.md): what it must find on each, and how the memory that
//! firmware fills in at boot is reported, then accepted once patched the way the firmware would.
#![forbid(unsafe_code)]

mod patch;
mod unsupported;

use super::*;

pub(crate) const RPI4: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/bcm2711-rpi-4-b.dtb");
pub(crate) const ZCU102: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/zynqmp-zcu102-rev1.0.dtb");
pub(crate) const IMX8MP_EVK: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/imx8mp-evk.dtb");
pub(crate) const ROCKPRO64: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/rk3399-rockpro64.dtb");
pub(crate) const HIKEY960: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/hi3660-hikey960.dtb");
pub(crate) const DB845C: &[u8] =
    include_bytes!("../../../testdata/dtb/real-boards/sdm845-db845c.dtb");

/// The Pi 4's tree after its firmware (start4.elf) wrote the RAM of a 4 GB board: below the
/// VideoCore's share, and above 1 GiB (root cells: 2 address, 1 size).
pub(crate) fn rpi4_with_memory() -> Vec<u8> {
    patch::set_cells(
        RPI4,
        "/memory@0",
        "reg",
        &[0, 0, 0x3b40_0000, 0, 0x4000_0000, 0xbc00_0000],
    )
}

/// The RockPro64's tree after U-Boot added the memory node it has none of (4 GB board, RAM from
/// 2 MiB: the first 2 MiB hold TF-A).
pub(crate) fn rockpro64_with_memory() -> Vec<u8> {
    let dtb = patch::set_string(ROCKPRO64, "/memory@200000", "device_type", "memory");
    patch::set_cells(
        &dtb,
        "/memory@200000",
        "reg",
        &[0, 0x20_0000, 0, 0xf7e0_0000],
    )
}

/// The HiKey960's tree after UEFI wrote the RAM of a 3 GB board.
pub(crate) fn hikey960_with_memory() -> Vec<u8> {
    patch::set_cells(HIKEY960, "/memory@0", "reg", &[0, 0, 0, 0xc000_0000])
}

/// The DB845c's tree after the boot loader (ABL) wrote the RAM of a 4 GB board.
pub(crate) fn db845c_with_memory() -> Vec<u8> {
    patch::set_cells(DB845C, "/memory@80000000", "reg", &[0, 0x8000_0000, 1, 0])
}

pub(crate) fn parse(dtb: &[u8]) -> Platform<'_> {
    Platform::parse(dtb).unwrap_or_else(|error| panic!("tree must parse: {error}"))
}

fn error_of(dtb: &[u8]) -> String {
    match Platform::parse(dtb) {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

/// CPUs with MPIDRs `mpidrs`, all started by PSCI.
fn assert_psci_cpus(platform: &Platform<'_>, mpidrs: &[u64]) {
    let found: Vec<_> = platform.cpus.iter().map(|cpu| cpu.mpidr).collect();
    assert_eq!(found, mpidrs);
    assert!(platform
        .cpus
        .iter()
        .all(|cpu| cpu.enable_method == EnableMethod::Psci));
}

fn assert_console(
    platform: &Platform<'_>,
    path: &str,
    compatible: &str,
    range: MemoryRange,
    options: Option<&str>,
) {
    let console = platform.console.as_ref().expect("the tree names a console");
    assert_eq!(console.path, path);
    assert_eq!(console.compatible, compatible);
    assert_eq!(MemoryRange::new(console.base, console.size), range);
    assert_eq!(console.options, options);
}

/// The binding's usual PPIs: secure 13, non-secure 14, virtual 11, hypervisor 10 (+16).
const USUAL_TIMER: Timer = Timer {
    secure_phys: 29,
    nonsecure_phys: 30,
    virtual_timer: 27,
    hyp_phys: 26,
    hyp_virtual: None,
    clock_frequency: None,
};

fn gicv2_frames(platform: &Platform<'_>) -> [MemoryRange; 4] {
    let GicRegions::V2 {
        distributor,
        cpu_interface,
        hyp_interface,
        virtual_cpu_interface,
    } = platform.gic.regions
    else {
        panic!("expected a GICv2, found {:?}", platform.gic.regions);
    };
    [
        distributor,
        cpu_interface,
        hyp_interface,
        virtual_cpu_interface,
    ]
}

#[test]
fn raspberry_pi_4() {
    assert_eq!(
        error_of(RPI4),
        "/memory@0: no usable memory: every `reg` range has size 0, a placeholder that the \
         firmware fills in at boot; start hyp-arm from that firmware (or write the sizes into the tree)"
    );
    let dtb = rpi4_with_memory();
    let platform = parse(&dtb);
    assert_eq!(
        platform.memory.as_slice(),
        &[
            MemoryRange::new(0, 0x3b40_0000),
            MemoryRange::new(0x4000_0000, 0xbc00_0000)
        ]
    );
    assert_eq!(
        platform.reserved.first(),
        Some(&MemoryRange::new(0, 0x1000)),
        "/memreserve/"
    );
    // Spin-table, each CPU with its own release address; no PSCI node at all.
    let release: Vec<_> = platform
        .cpus
        .iter()
        .map(|cpu| (cpu.mpidr, cpu.enable_method))
        .collect();
    let spin = |release_addr| EnableMethod::SpinTable { release_addr };
    assert_eq!(
        release,
        [
            (0, spin(0xd8)),
            (1, spin(0xe0)),
            (2, spin(0xe8)),
            (3, spin(0xf0))
        ]
    );
    assert_eq!(platform.psci, None);
    assert_eq!(platform.cpu_compatible, "arm,cortex-a72");
    // GIC-400 under /soc, translated from the VideoCore bus address 0x40041000.
    assert_eq!(platform.gic.version(), GicVersion::V2);
    assert_eq!(platform.gic.path, "/soc/interrupt-controller@40041000");
    assert_eq!(
        gicv2_frames(&platform),
        [
            MemoryRange::new(0xff84_1000, 0x1000),
            MemoryRange::new(0xff84_2000, 0x2000),
            MemoryRange::new(0xff84_4000, 0x2000),
            MemoryRange::new(0xff84_6000, 0x2000),
        ]
    );
    assert_eq!(platform.gic.maintenance_intid, 25);
    assert_eq!(platform.timer, USUAL_TIMER);
    // "serial1" is the mini UART (the PL011 is serial0, usually given to Bluetooth).
    assert_console(
        &platform,
        "/soc/serial@7e215040",
        "brcm,bcm2835-aux-uart",
        MemoryRange::new(0xfe21_5040, 0x40),
        Some("115200n8"),
    );
    assert!(platform.devices().all(|device| device.is_ok()));
}

#[test]
fn xilinx_zcu102() {
    let platform = parse(ZCU102);
    assert_eq!(
        platform.memory.as_slice(),
        &[
            MemoryRange::new(0, 0x8000_0000),
            MemoryRange::new(0x8_0000_0000, 0x8000_0000)
        ]
    );
    assert_psci_cpus(&platform, &[0, 1, 2, 3]);
    assert_eq!(
        platform.psci,
        Some(Psci {
            method: PsciMethod::Smc,
            version: PsciVersion::V0_2
        })
    );
    // GIC-400 with 128 KiB (64 KiB-aliased) CPU interface frames: see `unsupported`.
    assert_eq!(platform.gic.path, "/axi/interrupt-controller@f9010000");
    assert_eq!(
        gicv2_frames(&platform),
        [
            MemoryRange::new(0xf901_0000, 0x1_0000),
            MemoryRange::new(0xf902_0000, 0x2_0000),
            MemoryRange::new(0xf904_0000, 0x2_0000),
            MemoryRange::new(0xf906_0000, 0x2_0000),
        ]
    );
    assert_eq!(platform.timer, USUAL_TIMER);
    assert_console(
        &platform,
        "/axi/serial@ff000000",
        "xlnx,zynqmp-uart",
        MemoryRange::new(0xff00_0000, 0x1000),
        Some("115200n8"),
    );
    assert_eq!(platform.bootargs, Some("earlycon"));
}

#[test]
fn nxp_imx8mp_evk() {
    let platform = parse(IMX8MP_EVK);
    assert_eq!(
        platform.memory.as_slice(),
        &[
            MemoryRange::new(0x4000_0000, 0xc000_0000),
            MemoryRange::new(0x1_0000_0000, 0xc000_0000)
        ]
    );
    assert_psci_cpus(&platform, &[0, 1, 2, 3]);
    assert_eq!(
        platform.psci,
        Some(Psci {
            method: PsciMethod::Smc,
            version: PsciVersion::V1_0
        })
    );
    assert_eq!(platform.gic.version(), GicVersion::V3);
    assert_eq!(
        platform.gic.regions,
        GicRegions::V3 {
            distributor: MemoryRange::new(0x3880_0000, 0x1_0000),
            redistributors: heapless::Vec::from_slice(&[MemoryRange::new(0x3888_0000, 0xc_0000)])
                .expect("one region"),
            cpu_interface: None,
            hyp_interface: None,
            virtual_cpu_interface: None,
        }
    );
    // CNTFRQ_EL0 is not programmed by this board's firmware: the tree gives 8 MHz.
    assert_eq!(
        platform.timer,
        Timer {
            clock_frequency: Some(8_000_000),
            ..USUAL_TIMER
        }
    );
    // stdout-path is a full path here, without options.
    assert_console(
        &platform,
        "/soc@0/bus@30800000/serial@30890000",
        "fsl,imx8mp-uart",
        MemoryRange::new(0x3089_0000, 0x1_0000),
        None,
    );
}

#[test]
fn pine64_rockpro64() {
    // No memory node at all: U-Boot adds one.
    assert_eq!(
        error_of(ROCKPRO64),
        "no memory: no root-level node with device_type = \"memory\" has a non-empty `reg`"
    );
    let dtb = rockpro64_with_memory();
    let platform = parse(&dtb);
    assert_eq!(
        platform.memory.as_slice(),
        &[MemoryRange::new(0x20_0000, 0xf7e0_0000)]
    );
    // Two clusters: four Cortex-A53 (Aff1 = 0) and two Cortex-A72 (Aff1 = 1).
    assert_psci_cpus(&platform, &[0, 1, 2, 3, 0x100, 0x101]);
    assert_eq!(
        platform.psci,
        Some(Psci {
            method: PsciMethod::Smc,
            version: PsciVersion::V1_0
        })
    );
    // GICv3 with PPI partitions (4 interrupt cells) and GICv2-compatible frames.
    assert_eq!(platform.gic.interrupt_cells, 4);
    assert_eq!(
        platform.gic.regions,
        GicRegions::V3 {
            distributor: MemoryRange::new(0xfee0_0000, 0x1_0000),
            redistributors: heapless::Vec::from_slice(&[MemoryRange::new(0xfef0_0000, 0xc_0000)])
                .expect("one region"),
            cpu_interface: Some(MemoryRange::new(0xfff0_0000, 0x1_0000)),
            hyp_interface: Some(MemoryRange::new(0xfff1_0000, 0x1_0000)),
            virtual_cpu_interface: Some(MemoryRange::new(0xfff2_0000, 0x1_0000)),
        }
    );
    assert_eq!(platform.gic.maintenance_intid, 25);
    // The timer's 4-cell specifiers (last cell: the partition, 0 = all CPUs) decode alike.
    assert_eq!(platform.timer, USUAL_TIMER);
    assert_console(
        &platform,
        "/serial@ff1a0000",
        "rockchip,rk3399-uart",
        MemoryRange::new(0xff1a_0000, 0x100),
        Some("1500000n8"),
    );
}

#[test]
fn hikey960() {
    assert!(error_of(HIKEY960).starts_with("/memory@0: no usable memory"));
    let dtb = hikey960_with_memory();
    let platform = parse(&dtb);
    assert_eq!(
        platform.memory.as_slice(),
        &[MemoryRange::new(0, 0xc000_0000)]
    );
    assert_psci_cpus(&platform, &[0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103]);
    assert_eq!(
        platform.psci,
        Some(Psci {
            method: PsciMethod::Smc,
            version: PsciVersion::V0_2
        })
    );
    assert_eq!(platform.gic.path, "/interrupt-controller@e82b0000");
    assert_eq!(
        gicv2_frames(&platform),
        [
            MemoryRange::new(0xe82b_1000, 0x1000),
            MemoryRange::new(0xe82b_2000, 0x2000),
            MemoryRange::new(0xe82b_4000, 0x2000),
            MemoryRange::new(0xe82b_6000, 0x2000),
        ]
    );
    assert_eq!(platform.timer, USUAL_TIMER);
    // "serial6": the PL011 on the low-speed expansion connector.
    assert_console(
        &platform,
        "/soc/serial@fff32000",
        "arm,pl011",
        MemoryRange::new(0xfff3_2000, 0x1000),
        Some("115200n8"),
    );
}

#[test]
fn dragonboard_845c() {
    assert!(error_of(DB845C).starts_with("/memory@80000000: no usable memory"));
    let dtb = db845c_with_memory();
    let platform = parse(&dtb);
    assert_eq!(
        platform.memory.as_slice(),
        &[MemoryRange::new(0x8000_0000, 0x1_0000_0000)]
    );
    // One CPU per Aff1 value (DynamIQ): 0x000 to 0x700.
    assert_psci_cpus(
        &platform,
        &[0, 0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700],
    );
    assert_eq!(
        platform.psci,
        Some(Psci {
            method: PsciMethod::Smc,
            version: PsciVersion::V1_0
        })
    );
    assert_eq!(platform.gic.path, "/soc@0/interrupt-controller@17a00000");
    assert_eq!(
        platform.gic.distributor(),
        MemoryRange::new(0x17a0_0000, 0x1_0000)
    );
    let GicRegions::V3 { redistributors, .. } = &platform.gic.regions else {
        panic!("SDM845 has a GICv3");
    };
    assert_eq!(
        redistributors.as_slice(),
        &[MemoryRange::new(0x17a6_0000, 0x10_0000)]
    );
    // Not the usual 13/14/11/10: PPIs 1, 2, 3 and 0, so EL2's timer is INTID 16, the guests'
    // virtual timer 19.
    assert_eq!(
        platform.timer,
        Timer {
            secure_phys: 17,
            nonsecure_phys: 18,
            virtual_timer: 19,
            hyp_phys: 16,
            hyp_virtual: None,
            clock_frequency: None
        }
    );
    assert_console(
        &platform,
        "/soc@0/geniqup@ac0000/serial@a84000",
        "qcom,geni-debug-uart",
        MemoryRange::new(0xa8_4000, 0x4000),
        Some("115200n8"),
    );
    // The application SMMU raises more SPIs than a device may: that device alone is an error
    // (a domain that claims it is refused), the rest of the list is fine.
    let errors: Vec<_> = platform
        .devices()
        .filter_map(Result::err)
        .map(|error| error.to_string())
        .collect();
    assert_eq!(
        errors,
        ["/soc@0/iommu@15000000: more than 64 SPIs; hyp-arm records at most 64"]
    );
}

#[test]
fn patching_changes_only_what_it_is_asked_to() {
    // Shrinking (a shorter `reg`) and adding a node both leave the rest of the tree as it was.
    let patched = patch::set_cells(
        IMX8MP_EVK,
        "/memory@40000000",
        "reg",
        &[0, 0x4000_0000, 0, 0x4000_0000],
    );
    let (before, after) = (parse(IMX8MP_EVK), parse(&patched));
    assert_eq!(
        after.memory.as_slice(),
        &[MemoryRange::new(0x4000_0000, 0x4000_0000)]
    );
    fn devices<'dtb>(platform: &Platform<'dtb>) -> Vec<Result<Device<'dtb>, PlatformError>> {
        platform.devices().collect()
    }
    assert_eq!(devices(&before), devices(&after));
    assert_eq!(before.reserved, after.reserved);
    assert_eq!(
        (before.timer, &before.gic, &before.console),
        (after.timer, &after.gic, &after.console)
    );
    let added = rockpro64_with_memory();
    let shipped = fdt::Fdt::new(ROCKPRO64).expect("shipped tree");
    let patched = fdt::Fdt::new(&added).expect("patched tree");
    assert_eq!(patched.all_nodes().count(), shipped.all_nodes().count() + 1);
    fn without_memory(tree: &fdt::Fdt<'_>) -> Vec<String> {
        let nodes = tree.all_nodes().filter(|node| node.name != "memory@200000");
        nodes.map(|node| node.name.to_string()).collect()
    }
    assert_eq!(without_memory(&patched), without_memory(&shipped));
}

/// The tree QEMU 7.2's xlnx-zcu102 hands over for boards/zcu102's reference tree (`-m 2G`): QEMU
/// NOPs out the memory node it replaces, and adds its own memory@0 and the /chosen it writes.
const ZCU102_QEMU_LOADED: &[u8] = include_bytes!("../../../testdata/dtb/zcu102-qemu-loaded.dtb");

#[test]
fn nop_tokens_from_a_loader_are_removed_in_place() {
    assert!(matches!(
        Platform::parse(ZCU102_QEMU_LOADED),
        Err(PlatformError::Blob(BlobError::Structure {
            problem: StructureProblem::NopToken,
            ..
        }))
    ));
    let mut blob = ZCU102_QEMU_LOADED.to_vec();
    let removed = blob::remove_nops(&mut blob);
    assert!(removed > 0, "QEMU left NOPs");
    assert_eq!(blob::remove_nops(&mut blob), 0, "all of them");
    let platform = Platform::parse(&blob).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        platform.memory.as_slice(),
        [MemoryRange::new(0, 0x8000_0000)]
    );
    assert_eq!(
        platform
            .console
            .as_ref()
            .map(|uart| (uart.base, uart.compatible)),
        Some((0xff00_0000, "xlnx,zynqmp-uart"))
    );
    // A blob without NOPs is left as it is.
    let mut clean = ZCU102.to_vec();
    assert_eq!(blob::remove_nops(&mut clean), 0);
    assert_eq!(clean, ZCU102);
    // Garbage is not touched, and nothing panics.
    let mut garbage = vec![0xffu8; 64];
    assert_eq!(blob::remove_nops(&mut garbage), 0);
}

#[test]
fn a_device_under_a_disabled_bus_is_disabled() {
    // ZCU102: /axi/cci@fd6e0000 is disabled, its pmu@9000 child has no `status` of its own.
    let platform = parse(ZCU102);
    let device = |path: &str| {
        platform
            .device(path)
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{path} is a device"))
    };
    assert!(!device("/axi/cci@fd6e0000").enabled);
    assert!(!device("/axi/cci@fd6e0000/pmu@9000").enabled);
    assert!(device("/axi/serial@ff010000").enabled);
}

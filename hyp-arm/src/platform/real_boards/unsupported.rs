//! `Platform::limitations` on the real boards' trees, and one test per kind of [`Unsupported`].
#![forbid(unsafe_code)]

use super::*;

/// The qemu-virt board's console driver: a PL011.
const PL011_ONLY: Capabilities = Capabilities {
    console_drivers: &["arm,pl011"],
};

fn limitations(dtb: &[u8]) -> Vec<String> {
    let platform = parse(dtb);
    let found = platform
        .limitations(&PL011_ONLY)
        .unwrap_or_else(|error| panic!("{error}"));
    found.iter().map(ToString::to_string).collect()
}

#[test]
fn qemu_virt_has_no_limitations() {
    for dtb in [
        crate::platform::tests::VIRT_GICV2_SMP4,
        crate::platform::tests::VIRT_GICV3_SMP4,
    ] {
        assert_eq!(limitations(dtb), Vec::<String>::new());
    }
}

#[test]
fn hikey960_is_supported_as_described() {
    assert_eq!(limitations(&hikey960_with_memory()), Vec::<String>::new());
}

#[test]
fn console_without_a_driver() {
    assert_eq!(
        limitations(&db845c_with_memory()),
        ["/soc@0/geniqup@ac0000/serial@a84000: the console UART (/chosen `stdout-path`) has \
          `compatible` \"qcom,geni-debug-uart\", which this board has no driver for (it drives: arm,pl011)"]
    );
    for dtb in [IMX8MP_EVK.to_vec(), rockpro64_with_memory()] {
        let found = limitations(&dtb);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("which this board has no driver for"),
            "{found:?}"
        );
    }
    // Any string of the UART's `compatible` list counts: the i.MX 8M Plus UART is
    // "fsl,imx8mp-uart", "fsl,imx6q-uart", and a driver for the older part drives it.
    let platform = parse(IMX8MP_EVK);
    let imx = Capabilities {
        console_drivers: &["fsl,imx6q-uart"],
    };
    assert_eq!(platform.limitations(&imx).map(|found| found.len()), Ok(0));
}

#[test]
fn spin_table_cpus_are_supported() {
    // Only the console driver is missing with the qemu-virt board's drivers; with the mini UART's
    // driver (boards/rpi4) nothing is.
    let found = limitations(&rpi4_with_memory());
    assert_eq!(
        found,
        [
            "/soc/serial@7e215040: the console UART (/chosen `stdout-path`) has `compatible` \
          \"brcm,bcm2835-aux-uart\", which this board has no driver for (it drives: arm,pl011)"
        ]
    );
    let rpi4 = Capabilities {
        console_drivers: &["brcm,bcm2835-aux-uart", "arm,pl011"],
    };
    let dtb = rpi4_with_memory();
    assert_eq!(
        parse(&dtb).limitations(&rpi4).map(|found| found.len()),
        Ok(0)
    );
}

#[test]
fn spin_table_release_word_a_guest_could_get() {
    // Without the /memreserve/ of the spin-table page, the release words are ordinary RAM.
    let dtb = patch::set_cells(
        &rpi4_with_memory(),
        "/cpus/cpu@2",
        "cpu-release-addr",
        &[0, 0x2000],
    );
    let found = limitations(&dtb);
    assert_eq!(
        found[1..],
        [
            "/cpus/cpu@2: CPU 0x2: `cpu-release-addr` 0x2000 is RAM that no /memreserve/ or \
          /reserved-memory entry covers, so hyp-arm could hand it to a guest; the firmware must \
          reserve its spin table: that CPU stays off"
        ]
    );
}

#[test]
fn no_console() {
    let dtb = patch::delete_property(IMX8MP_EVK, "/chosen", "stdout-path");
    assert_eq!(
        limitations(&dtb),
        ["/chosen: no `stdout-path`: hyp-arm needs a console UART to report on"]
    );
}

#[test]
fn psci_cpus_without_psci() {
    let dtb = patch::set_string(&hikey960_with_memory(), "/psci", "status", "disabled");
    assert_eq!(
        limitations(&dtb),
        [
            "/cpus/cpu@0: `enable-method` is \"psci\", but no enabled node is compatible with \
          arm,psci-1.0, arm,psci-0.2 or arm,psci"
        ]
    );
}

#[test]
fn psci_through_hvc() {
    let dtb = patch::set_string(&hikey960_with_memory(), "/psci", "method", "hvc");
    assert_eq!(
        parse(&dtb).psci.map(|psci| psci.method),
        Some(PsciMethod::Hvc)
    );
    assert_eq!(
        limitations(&dtb),
        ["/psci: `method` is \"hvc\": from EL2 an HVC traps to hyp-arm itself and never reaches \
          the firmware; hyp-arm needs \"smc\""]
    );
}

#[test]
fn psci_version_0_1() {
    let dtb = patch::set_string(&hikey960_with_memory(), "/psci", "compatible", "arm,psci");
    assert_eq!(
        limitations(&dtb),
        [
            "/psci: `compatible` is only \"arm,psci\" (PSCI 0.1, function IDs from the node): \
          hyp-arm calls the standard function IDs of PSCI 0.2 and later"
        ]
    );
}

#[test]
fn gicv2_frames_aliased_every_64_kib_are_supported() {
    // The ZCU102's 128 KiB GICC/GICV frames (page 1 at +0x10000, `gicv2_frame`): only the console
    // remains, and with a Cadence UART driver nothing at all.
    let found = limitations(ZCU102);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("xlnx,zynqmp-uart"), "{found:?}");
    let cadence = Capabilities {
        console_drivers: &["arm,pl011", "cdns,uart-r1p12"],
    };
    assert_eq!(
        parse(ZCU102).limitations(&cadence).map(|found| found.len()),
        Ok(0)
    );
    let GicRegions::V2 {
        cpu_interface,
        virtual_cpu_interface,
        ..
    } = parse(ZCU102).gic.regions
    else {
        panic!("the ZCU102 has a GIC-400");
    };
    let pages = [cpu_interface, virtual_cpu_interface].map(Gicv2FramePages::of);
    assert_eq!(
        pages,
        [
            Some(Gicv2FramePages {
                layout: Gicv2FrameLayout::Aliased64KiB,
                first: 0xf902_0000,
                second: 0xf903_0000,
            }),
            Some(Gicv2FramePages {
                layout: Gicv2FrameLayout::Aliased64KiB,
                first: 0xf906_0000,
                second: 0xf907_0000,
            }),
        ]
    );
}

#[test]
fn gicv2_virtual_cpu_interface_of_one_page() {
    // HiKey960's GIC-400 with GICV cut to 4 KiB (root cells: 2 address, 2 size).
    let reg = [
        0,
        0xe82b_1000,
        0,
        0x1000,
        0,
        0xe82b_2000,
        0,
        0x2000,
        0,
        0xe82b_4000,
        0,
        0x2000,
        0,
        0xe82b_6000,
        0,
        0x1000,
    ];
    let dtb = patch::set_cells(
        &hikey960_with_memory(),
        "/interrupt-controller@e82b0000",
        "reg",
        &reg,
    );
    assert_eq!(
        limitations(&dtb),
        [
            "/interrupt-controller@e82b0000: `reg` entry 3 (GICV) is 0x1000 bytes: hyp-arm needs \
          8 KiB (GICC_DIR is at +0x1000)"
        ]
    );
}

#[test]
fn gicv3_redistributor_stride() {
    let gic = "/soc@0/interrupt-controller@38800000";
    let dtb = patch::set_cells(IMX8MP_EVK, gic, "redistributor-stride", &[0, 0x4_0000]);
    let found = limitations(&dtb);
    assert_eq!(
        found[1..],
        [format!(
            "{gic}: `redistributor-stride` is 0x40000: hyp-arm finds redistributors at the stride \
             their GICR_TYPER implies (128 KiB, or 256 KiB with VLPIs)"
        )]
    );
}

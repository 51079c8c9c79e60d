//! `cargo xtask test`: host unit tests, then the QEMU system tests against freshly built images.

use std::fs;

use anyhow::{Context, Result};

use crate::build::LogFormat;
use crate::layout::Layout;
use crate::process::{self, run, say};
use crate::secure_domain::{build_secure_domain, SecureDomainBuild};
use crate::{bare_guest, build, deps, image, initramfs, BuildOptions, TestOptions};

/// The board the system tests boot.
const BOARD: &str = "qemu-virt";

/// The second board the system tests boot (tests/tests/zcu102.rs).
const ZCU102_BOARD: &str = "zcu102";

/// QEMU runs with up to four emulated CPUs; two at a time keep a small machine responsive.
const SYSTEM_TEST_THREADS: &str = "--test-threads=2";

pub fn test(layout: &Layout, options: &TestOptions) -> Result<()> {
    deps::install(layout)?;

    say("host unit tests (the workspace's default members)");
    // Not `--workspace`: that would also build the board crates, which are firmware, for the host.
    run(process::cargo().current_dir(&layout.root).arg("test"))
        .context("host unit tests failed")?;

    // The tests boot the defmt-logging image and decode its records (the runner finds the
    // table in the ELF file next to each image), so that a broken decoder fails them; only the
    // README's command line boots the text-logging image, `target/images/<board>/hyp-arm.img`.
    let text_options = BuildOptions {
        log: Some(LogFormat::Text),
        ..BuildOptions::for_board(BOARD)
    };
    build::build(layout, &text_options)?;
    let defmt_options = BuildOptions {
        log: Some(LogFormat::Defmt),
        ..text_options
    };
    let hypervisor = build::build(layout, &defmt_options)?;
    let initrd = initramfs::build(layout)?;
    let guest_kernel = match &options.guest_kernel {
        Some(kernel) => {
            anyhow::ensure!(
                kernel.is_file(),
                "--guest-kernel {} is not a file",
                kernel.display()
            );
            say(format!("guest kernel: {}", kernel.display()));
            kernel.clone()
        }
        None => layout.guest_kernel(),
    };
    // The Android-style kernel with the goldfish drivers (tests/tests/goldfish.rs); built once,
    // then cached (images/android-kernel/README.md).
    let android_kernel = crate::android_kernel::ensure(layout)?;
    let hostile_guest = bare_guest::hostile(layout)?;
    // The micro-benchmark guest's smoke run (tests/tests/microbench_guest.rs).
    let microbench_guest = bare_guest::microbench(layout)?;
    // The same hypervisor with the guest built in, booted with no guest-loader modules.
    let embedded = build::build(
        layout,
        &BuildOptions {
            embed_kernel: Some(guest_kernel.clone()),
            embed_initrd: Some(initrd.clone()),
            embed_bootargs: "console=ttyAMA0 hyptest=boot".to_string(),
            ..defmt_options.clone()
        },
    )?;
    // The goldfish board (boards/goldfish, tests/tests/goldfish.rs).
    let goldfish = build::build(
        layout,
        &BuildOptions {
            log: Some(LogFormat::Defmt),
            ..BuildOptions::for_board("goldfish")
        },
    )?;
    // Every vCPU on a CPU of its own (boards/qemu-virt/domains-pinned.toml).
    let pinned = build::build(
        layout,
        &BuildOptions {
            domains: Some("domains-pinned.toml".to_string()),
            ..defmt_options
        },
    )?;
    // What `cargo xtask image` writes for qemu-virt, booted by Debian's U-Boot for QEMU
    // (tests/tests/uboot.rs).
    let uboot_disk = image::build(layout, BOARD)?;
    // The ZCU102 board under QEMU xlnx-zcu102 (tests/tests/zcu102.rs): Linux and the initramfs
    // built in, as QEMU's guest-loader cannot add modules to a -dtb tree; text logging, as
    // android writes uart0 itself between hyp-arm's lines. QEMU boots the raw arm64 Image
    // (`.bin`) so that it passes the device tree in x0 (docs/BOARDS.md).
    let zcu102 = build::build(
        layout,
        &BuildOptions {
            embed_kernel: Some(layout.guest_kernel()),
            embed_initrd: Some(initrd.clone()),
            embed_bootargs: "console=ttyPS0,115200 hyptest=boot".to_string(),
            log: Some(LogFormat::Text),
            ..BuildOptions::for_board(ZCU102_BOARD)
        },
    )?
    .with_extension("bin");
    let zcu102_device_tree = layout
        .board_crate(ZCU102_BOARD)
        .join("reference/zynqmp-zcu102-rev1.0-qemu.dtb");
    // The secure domain's firmware on bare QEMU (tests/tests/secure_domain_bare.rs).
    let secure_domain_bare = build_secure_domain(layout, SecureDomainBuild::BareQemu)?;
    let logs = layout.test_logs();
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;

    say(format!(
        "system tests under QEMU; console logs in {}",
        logs.display()
    ));
    let mut cargo = process::cargo();
    cargo
        .current_dir(&layout.root)
        // The dev profile: the release profile's fat LTO takes a minute to link the test
        // binaries on a small machine, and the runner only waits on QEMU's output.
        // `--no-fail-fast`: one failing test binary must not hide the others' results.
        .args([
            "test",
            "--package",
            "hyp-arm-system-tests",
            "--no-fail-fast",
        ])
        .arg("--")
        .arg(SYSTEM_TEST_THREADS)
        .args(&options.filter)
        .env("HYP_ARM_IMAGE", &hypervisor)
        .env("HYP_ARM_EMBEDDED_IMAGE", &embedded)
        .env("HYP_ARM_PINNED_IMAGE", &pinned)
        .env("HYP_ARM_GOLDFISH_IMAGE", &goldfish)
        .env("HYP_ARM_ANDROID_KERNEL", &android_kernel)
        .env("HYP_ARM_GUEST_KERNEL", &guest_kernel)
        .env("HYP_ARM_GUEST_INITRD", &initrd)
        .env("HYP_ARM_HOSTILE_GUEST", &hostile_guest)
        .env("HYP_ARM_MICROBENCH_GUEST", &microbench_guest)
        .env("HYP_ARM_SECURE_DOMAIN_BARE", &secure_domain_bare)
        .env("HYP_ARM_UBOOT_DISK", &uboot_disk)
        .env("HYP_ARM_UBOOT_FIRMWARE", deps::UBOOT_QEMU_FIRMWARE)
        .env("HYP_ARM_ZCU102_IMAGE", &zcu102)
        .env("HYP_ARM_ZCU102_DTB", &zcu102_device_tree)
        .env("HYP_ARM_LOG_DIR", &logs);
    run(&mut cargo).with_context(|| {
        format!(
            "system tests failed; each test's console log is in {}",
            logs.display()
        )
    })?;
    say("all tests passed");
    Ok(())
}

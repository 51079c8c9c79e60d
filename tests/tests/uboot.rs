//! The disk image `cargo xtask image --board qemu-virt` writes, booted the way a board with U-Boot
//! boots it: Debian's U-Boot for QEMU as firmware at EL2, distro boot finds `boot.scr` on the
//! disk, the script loads hyp-arm and the guest and adds the `/chosen` boot modules, and `booti`
//! starts hyp-arm; then both domains come up. No `-kernel`, no guest-loader.

use std::time::Duration;

use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, STEP_TIMEOUT, USERSPACE};
use hyp_arm_system_tests::secure;
use hyp_arm_system_tests::uboot::{self, UBootDisk, EXECUTING_SCRIPT, SCRIPT_STARTED};
use hyp_arm_system_tests::{BootConfig, Console, Failure, Qemu};

/// From power-on to the script: U-Boot tries QEMU's fw_cfg, USB and SCSI before virtio.
const UBOOT_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn uboot_distro_boot_runs_the_script_and_both_domains_come_up() -> Result<(), Failure> {
    let disk = UBootDisk::from_environment();
    // The machine of the other tests: GICv3, four Cortex-A57, 2 GiB.
    let config = BootConfig::default();
    let mut qemu = Qemu::spawn(uboot::command(&config, &disk, Console::Captured));
    qemu.add_failure_pattern("must be entered at EL2");
    // The script's own messages when a step failed or booti refused the image.
    qemu.add_failure_pattern("hyp-arm: not booting");
    qemu.add_failure_pattern("hyp-arm: booti returned");
    qemu.add_failure_pattern("Bad Linux ARM64 Image magic");
    qemu.wait_for("U-Boot 20", UBOOT_TIMEOUT)?;
    qemu.wait_for(EXECUTING_SCRIPT, UBOOT_TIMEOUT)?;
    qemu.wait_for(&format!("{SCRIPT_STARTED}qemu-virt"), STEP_TIMEOUT)?;
    qemu.wait_for("Starting kernel", STEP_TIMEOUT)?;
    // hyp-arm runs (at EL2: below it would say so and stop) with the tree the script made.
    qemu.wait_for("[hyp] hyp-arm ", STEP_TIMEOUT)?;
    // Android's kernel and initramfs are the script's boot modules (nothing is built in).
    let android = qemu.wait_for_line("[hyp] android: ", STEP_TIMEOUT)?;
    if !android.contains("(boot modules), initrd") {
        return Err(qemu.failure(format!(
            "android's images are not the script's boot modules: `{android}`"
        )));
    }
    qemu.wait_for("[hyp] android: bootargs \"console=ttyAMA0\"", STEP_TIMEOUT)?;
    qemu.wait_for(secure::UP, BOOT_TIMEOUT)?;
    qemu.wait_for(secure::READY, STEP_TIMEOUT)?;
    qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
    guest::check_binder(&mut qemu)?;
    // The secure domain keeps beating while android runs.
    qemu.wait_for(secure::HEARTBEAT, secure::HEARTBEAT_TIMEOUT)?;
    secure::check_started_once(&qemu)
}

//! A guest built into the hypervisor image (`cargo xtask build --embed-kernel`) boots with no
//! guest-loader modules at all: hyp-arm says it uses the built-in images, and the guest reaches
//! its boot report (the embedded command line is `console=ttyAMA0 hyptest=boot`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

use hyp_arm_system_tests::{guest, Failure, Qemu, QEMU};

#[test]
fn embedded_guest_boots_without_boot_modules() -> Result<(), Failure> {
    let Some(image) = env::var_os("HYP_ARM_EMBEDDED_IMAGE").map(PathBuf::from) else {
        panic!(
            "HYP_ARM_EMBEDDED_IMAGE is not set: run the system tests through `cargo xtask test`"
        );
    };
    let mut command = Command::new(QEMU);
    command
        .args([
            "-M",
            "virt,virtualization=on,gic-version=3",
            "-cpu",
            "cortex-a57",
            "-smp",
            "2",
            "-m",
            "2G",
        ])
        .args([
            "-display", "none", "-serial", "stdio", "-monitor", "none", "-kernel",
        ])
        .arg(image);
    let mut qemu = Qemu::spawn(command);
    qemu.wait_for("built into the image", guest::STEP_TIMEOUT)?;
    guest::check_boot_report(&mut qemu, 2)?;
    guest::check_powered_off(&mut qemu)
}

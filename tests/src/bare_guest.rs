//! Bare-metal test guests (images/hostile, images/microbench) in android's slot under hyp-arm:
//! where `cargo xtask test` left their images, and the QEMU command line that boots one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command_line::{option_value, GicVersion, GUEST_KERNEL_ADDRESS, QEMU};
use crate::runner::images_from_environment;

/// A bare guest's raw image, from the environment variable `cargo xtask test` sets.
pub fn image(variable: &str) -> PathBuf {
    let Some(path) = std::env::var_os(variable) else {
        panic!("{variable} is not set: run the system tests through `cargo xtask test`");
    };
    PathBuf::from(path)
}

/// QEMU `virt` (Cortex-A57, 2 GiB) booting hyp-arm (`HYP_ARM_IMAGE`) with `guest` as android's
/// kernel and `bootargs` as its command line; semihosting on, for guests that report through
/// it (QEMU writes that to its stderr).
pub fn command(gic_version: GicVersion, cpus: u32, guest: &Path, bootargs: &str) -> Command {
    let images = images_from_environment();
    let mut command = Command::new(QEMU);
    command
        .args([
            "-M",
            &format!("virt,virtualization=on,gic-version={gic_version}"),
        ])
        .args(["-cpu", "cortex-a57", "-smp", &cpus.to_string(), "-m", "2G"])
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(&images.hypervisor)
        .arg("-device")
        .arg(format!(
            "guest-loader,addr={GUEST_KERNEL_ADDRESS:#x},kernel={},bootargs={}",
            option_value(&guest.to_string_lossy()),
            option_value(bootargs),
        ));
    command
}

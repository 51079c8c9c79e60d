//! Booting the disk image `cargo xtask image` writes, through U-Boot as QEMU's firmware (`-bios`)
//! instead of `-kernel`: what a person gets on a board that boots with U-Boot.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::command_line::{machine_arguments, option_value, BootConfig, Console, QEMU};
use crate::runner::file_from_environment;

/// The first line of the boot script (`xtask/src/image/boot_script.rs`), followed by the board.
pub const SCRIPT_STARTED: &str = "hyp-arm: boot script for ";

/// What U-Boot prints when distro boot runs a script it found.
pub const EXECUTING_SCRIPT: &str = "## Executing script at";

/// U-Boot for QEMU and the disk image it boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UBootDisk {
    /// `qemu_arm64/u-boot.bin` of Debian's u-boot-qemu.
    pub firmware: PathBuf,
    /// `target/images/<board>/disk.img`.
    pub disk: PathBuf,
}

impl UBootDisk {
    /// From `HYP_ARM_UBOOT_FIRMWARE` and `HYP_ARM_UBOOT_DISK`, which `cargo xtask test` sets;
    /// panics with instructions when they are missing.
    pub fn from_environment() -> UBootDisk {
        UBootDisk {
            firmware: file_from_environment("HYP_ARM_UBOOT_FIRMWARE"),
            disk: file_from_environment("HYP_ARM_UBOOT_DISK"),
        }
    }
}

/// The arguments after `qemu-system-aarch64`: the machine of `config` (its bootargs and target
/// do not apply: the disk holds both), U-Boot as firmware, and the disk as a read-only
/// virtio-mmio block device, which U-Boot's distro boot scans as `virtio0`.
pub fn arguments(config: &BootConfig, disk: &UBootDisk, console: Console) -> Vec<OsString> {
    let mut arguments = machine_arguments(config, console);
    arguments.push("-bios".into());
    arguments.push(disk.firmware.clone().into());
    arguments.push("-drive".into());
    arguments.push(
        format!(
            "if=none,format=raw,readonly=on,id=boot,file={}",
            option_value(&disk.disk.to_string_lossy())
        )
        .into(),
    );
    arguments.push("-device".into());
    arguments.push("virtio-blk-device,drive=boot".into());
    arguments
}

/// A ready-to-spawn QEMU process (stdio not yet configured).
pub fn command(config: &BootConfig, disk: &UBootDisk, console: Console) -> Command {
    let mut command = Command::new(QEMU);
    command.args(arguments(config, disk, console));
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_and_disk_replace_the_kernel() {
        let disk = UBootDisk {
            firmware: "/usr/lib/u-boot/qemu_arm64/u-boot.bin".into(),
            disk: "target/images/qemu-virt/disk,1.img".into(),
        };
        let line: Vec<String> = arguments(&BootConfig::default(), &disk, Console::Captured)
            .into_iter()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            line.join(" "),
            "-M virt,virtualization=on,gic-version=3 -cpu cortex-a57 -smp 4 -m 2G \
             -display none -serial stdio -monitor none \
             -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \
             -drive if=none,format=raw,readonly=on,id=boot,file=target/images/qemu-virt/disk,,1.img \
             -device virtio-blk-device,drive=boot"
        );
        assert!(!line.iter().any(|argument| argument == "-kernel"));
    }
}

//! `cargo xtask image`: what a person writes to a board's boot medium, one module per kind of
//! output. The board decides the kind: [`uboot`] for boards whose firmware is U-Boot (a disk image
//! with a boot script for distro boot), [`raspberry_pi`] for the Pi's SD card (its firmware reads
//! config.txt). [`disk`] writes partitioned disk images for all of them.

mod arm64;
mod boot_script;
mod disk;
mod raspberry_pi;
mod uboot;

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::layout::Layout;

pub use boot_script::{DeviceTree, UBootBoard};

/// How a board boots, and so what `cargo xtask image` makes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMedium {
    /// U-Boot's distro boot finds `boot.scr` on the first bootable partition of a disk image.
    UBoot(UBootBoard),
    /// The Raspberry Pi 4's firmware boots kernel8.img as config.txt says, from an SD card.
    RaspberryPiSd,
}

/// QEMU's virt machine booting Debian's `u-boot-qemu` (`-bios .../qemu_arm64/u-boot.bin`).
pub const QEMU_VIRT: UBootBoard = UBootBoard {
    name: "qemu-virt",
    ram_base: 0x4000_0000,
    // U-Boot's own window of QEMU virt (kernel_addr_r 0x4040_0000, ramdisk_addr_r 0x4400_0000)
    // lies within the first 256 MiB; hyp-arm carves its domains from the top of RAM.
    load_window: 256 << 20,
    device_tree: DeviceTree::UBootControl,
    guest_bootargs: hyp_arm_system_tests::command_line::BASE_BOOTARGS,
};

/// The boot medium of `board`, or an error listing the boards that have one.
pub fn boot_medium(board: &str) -> Result<BootMedium> {
    let known = [BootMedium::UBoot(QEMU_VIRT), BootMedium::RaspberryPiSd];
    let name = |medium: &BootMedium| match medium {
        BootMedium::UBoot(board) => board.name,
        BootMedium::RaspberryPiSd => "rpi4",
    };
    match known.iter().find(|medium| name(medium) == board) {
        Some(medium) => Ok(*medium),
        None => bail!(
            "`cargo xtask image` knows no boot medium for board `{board}`; it knows: {} \
             (docs/BOARDS.md, \"How to add a board\")",
            known.iter().map(name).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Builds everything `board` needs and writes its boot medium; returns the file to flash.
pub fn build(layout: &Layout, board: &str) -> Result<PathBuf> {
    match boot_medium(board)? {
        BootMedium::UBoot(board) => uboot::build(layout, &board),
        BootMedium::RaspberryPiSd => raspberry_pi::build(layout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_virt_boots_through_u_boot_and_unknown_boards_are_named() {
        assert_eq!(
            boot_medium("qemu-virt").expect("known"),
            BootMedium::UBoot(QEMU_VIRT)
        );
        assert_eq!(
            boot_medium("rpi4").expect("known"),
            BootMedium::RaspberryPiSd
        );
        let error = boot_medium("hikey960").expect_err("unknown");
        assert!(error.to_string().contains("qemu-virt, rpi4"), "{error}");
    }
}

//! The Raspberry Pi 4's SD card: target/images/rpi4/sd/ holds the boot partition's files and
//! target/images/rpi4/sd.img is a whole card (MBR, one FAT32 partition at 1 MiB), built without
//! root by `mkfs.vfat -C` and mtools' `mcopy`.
//!
//! The firmware (start4.elf) reads config.txt, loads kernel8.img (hyp-arm with Debian's kernel and
//! initramfs built in as android's guest) at `kernel_address`, patches the device tree (memory,
//! /chosen) and enters it at EL2 through its stock armstub, which parks the other CPUs in the spin
//! table at 0xd8..0xf0.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::arm64::ImageHeader;
use super::disk::{write_fat_disk, BootFile};
use crate::layout::Layout;
use crate::process::say;
use crate::BuildOptions;

/// Where boards/rpi4/build.rs links hyp-arm (RAM base 0 + text_offset 2 MiB).
pub const KERNEL_ADDRESS: u64 = 0x20_0000;
/// The console of android's Linux: the mini UART is `serial1`, so 8250_bcm2835aux's ttyS1.
pub const GUEST_BOOTARGS: &str = "console=ttyS1,115200";
/// The device tree's name on the card (Debian's, unpatched: the firmware patches it).
pub const DEVICE_TREE: &str = "bcm2711-rpi-4-b.dtb";
/// The firmware files the card needs besides ours (Raspberry Pi's `firmware` repository, boot/).
pub const FIRMWARE_FILES: [&str; 2] = ["start4.elf", "fixup4.dat"];

/// Builds the card's files and image; returns target/images/rpi4/sd.img.
pub fn build(layout: &Layout) -> Result<PathBuf> {
    let initrd = crate::initramfs::build(layout)?;
    let options = BuildOptions {
        board: "rpi4".to_string(),
        log: None,
        embed_kernel: Some(layout.guest_kernel()),
        embed_initrd: Some(initrd),
        embed_bootargs: GUEST_BOOTARGS.to_string(),
        domains: None,
    };
    let image = crate::build::build(layout, &options)?;
    let kernel8 = image.with_extension("bin");
    let out = layout.target().join("images").join("rpi4");
    let files = out.join("sd");
    if files.exists() {
        fs::remove_dir_all(&files).with_context(|| format!("cannot clear {}", files.display()))?;
    }
    fs::create_dir_all(&files).with_context(|| format!("cannot create {}", files.display()))?;

    let kernel =
        fs::read(&kernel8).with_context(|| format!("cannot read {}", kernel8.display()))?;
    // The bytes from the load address the image uses once running, .bss included.
    let loaded_size = ImageHeader::parse(&kernel, "kernel8.img")?
        .image_size
        .max(kernel.len() as u64);
    fs::write(files.join("kernel8.img"), &kernel)?;
    let config = ConfigTxt {
        kernel_address: KERNEL_ADDRESS,
        device_tree_address: device_tree_address(KERNEL_ADDRESS, loaded_size),
    };
    fs::write(files.join("config.txt"), config.text())?;
    let tree = layout
        .root
        .join("hyp-arm/testdata/dtb/real-boards")
        .join(DEVICE_TREE);
    fs::copy(&tree, files.join(DEVICE_TREE))
        .with_context(|| format!("cannot copy {}", tree.display()))?;
    let copied = copy_firmware(&files)?;
    fs::write(files.join("README.txt"), readme(copied))?;

    let card = out.join("sd.img");
    write_card(&files, &card)?;
    say(format!(
        "Raspberry Pi 4 SD card: {} (files in {}){}",
        card.display(),
        files.display(),
        if copied {
            String::new()
        } else {
            format!("; add {} (README.txt)", FIRMWARE_FILES.join(", "))
        }
    ));
    Ok(card)
}

/// The firmware files from `RPI_FIRMWARE_DIR` or Debian's raspi-firmware package
/// (/usr/lib/raspi-firmware); whether they were found.
fn copy_firmware(files: &Path) -> Result<bool> {
    let candidates = std::env::var_os("RPI_FIRMWARE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/lib/raspi-firmware")]);
    for dir in candidates {
        if FIRMWARE_FILES.iter().all(|name| dir.join(name).is_file()) {
            for name in FIRMWARE_FILES {
                fs::copy(dir.join(name), files.join(name))
                    .with_context(|| format!("cannot copy {}", dir.join(name).display()))?;
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// Where the firmware should put the device tree: the next 2 MiB boundary at least 2 MiB past
/// everything the image uses, so that neither the file nor its .bss (stacks, page tables) can
/// overlap the tree hyp-arm reads at boot.
pub fn device_tree_address(kernel_address: u64, image_size: u64) -> u64 {
    const TWO_MIB: u64 = 2 << 20;
    (kernel_address + image_size + TWO_MIB).next_multiple_of(TWO_MIB)
}

/// config.txt's settings for hyp-arm.
pub struct ConfigTxt {
    pub kernel_address: u64,
    pub device_tree_address: u64,
}

impl ConfigTxt {
    pub fn text(&self) -> String {
        format!(
            "# hyp-arm on the Raspberry Pi 4 (written by `cargo xtask image --board rpi4`).\n\
             [pi4]\n\
             # A 64-bit kernel, started at EL2 by the firmware's stock armstub, which also\n\
             # parks the secondary CPUs in the spin table the device tree describes.\n\
             arm_64bit=1\n\
             kernel=kernel8.img\n\
             # Where boards/rpi4 is linked (RAM base 0 + the image header's text_offset).\n\
             kernel_address={:#x}\n\
             # Debian's tree; the firmware fills in memory and /chosen. Placed clear of\n\
             # kernel8.img and its .bss.\n\
             device_tree={DEVICE_TREE}\n\
             device_tree_address={:#x}\n\
             # The GIC-400 in its architectural mode (hyp-arm needs GICH/GICV).\n\
             enable_gic=1\n\
             # The mini UART on GPIO 14/15 at 115200, its clock pinned so the rate holds.\n\
             enable_uart=1\n\
             # The firmware's own boot log on the same UART, for bring-up.\n\
             uart_2ndstage=1\n\
             # No initramfs line: android's is built into kernel8.img.\n",
            self.kernel_address, self.device_tree_address
        )
    }
}

fn readme(firmware_copied: bool) -> String {
    let mut text = String::from(
        "hyp-arm boot partition for the Raspberry Pi 4 Model B (docs/BOARDS.md).\r\n\r\n\
         kernel8.img            hyp-arm, with Debian's kernel and initramfs built in (android)\r\n\
         config.txt             firmware settings: 64-bit, EL2, kernel and tree addresses, UART\r\n\
         bcm2711-rpi-4-b.dtb    Debian 12's device tree for the board\r\n",
    );
    for name in FIRMWARE_FILES {
        text.push_str(&format!(
            "{name:<22} the Pi firmware{}\r\n",
            if firmware_copied {
                ""
            } else {
                ": NOT INCLUDED, copy it here from https://github.com/raspberrypi/firmware/tree/master/boot \
                 or Debian's raspi-firmware package (/usr/lib/raspi-firmware)"
            }
        ));
    }
    text
}

/// The boot partition's label (FAT labels have at most 11 characters).
const CARD_LABEL: &str = "HYPARM-BOOT";

/// Writes `card`: the MBR and one FAT32 partition holding every file in `files`
/// ([`super::disk`]).
pub fn write_card(files: &Path, card: &Path) -> Result<()> {
    let mut boot_files = Vec::new();
    for entry in fs::read_dir(files).with_context(|| format!("cannot list {}", files.display()))? {
        let source = entry?.path();
        let name = source
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("{} has no UTF-8 file name", source.display()))?
            .to_string();
        boot_files.push(BootFile { name, source });
    }
    boot_files.sort_by(|a, b| a.name.cmp(&b.name));
    let work = card.with_extension("work");
    write_fat_disk(card, CARD_LABEL, &boot_files, &work)?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

#[cfg(test)]
mod tests;

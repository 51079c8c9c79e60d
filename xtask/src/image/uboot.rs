//! The disk image of a board that boots through U-Boot: one FAT partition with hyp-arm, the
//! guest's kernel and initramfs, and `boot.scr`, which U-Boot's distro boot runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

use super::arm64::{check_placement, elf_entry, ImageHeader};
use super::boot_script::{
    self, device_tree_file_name, DeviceTree, LoadLayout, Sizes, UBootBoard, HYPERVISOR_FILE,
    INITRD_FILE, KERNEL_FILE,
};
use super::disk::{self, BootFile};
use crate::build::{self, LogFormat};
use crate::layout::Layout;
use crate::process::{run, say};
use crate::{deps, initramfs, BuildOptions};

/// The FAT volume label (at most 11 characters).
const VOLUME_LABEL: &str = "HYP-ARM";

/// The script's name where distro boot looks for it (`boot_scripts` of U-Boot's environment).
const SCRIPT_FILE: &str = "boot.scr";

/// Builds hyp-arm (text logging: the console is whatever serial terminal the board has), the
/// guest and the boot script, and writes `target/images/<board>/disk.img`.
pub fn build(layout: &Layout, board: &UBootBoard) -> Result<PathBuf> {
    deps::image_tools()?;
    let image = build::build(
        layout,
        &BuildOptions {
            log: Some(LogFormat::Text),
            ..BuildOptions::for_board(board.name)
        },
    )?;
    let raw_image = image.with_extension("bin");
    let kernel_version = deps::guest_packages(layout)?;
    let kernel = layout.guest_kernel();
    let initrd = initramfs::build(layout)?;

    let raw =
        fs::read(&raw_image).with_context(|| format!("cannot read {}", raw_image.display()))?;
    let header = ImageHeader::parse(&raw, &raw_image.display().to_string())?;
    let elf = fs::read(&image).with_context(|| format!("cannot read {}", image.display()))?;
    let link_address = elf_entry(&elf, &image.display().to_string())?;
    let hypervisor = check_placement(&header, board.ram_base, link_address)?;
    let sizes = Sizes {
        hypervisor_footprint: header.image_size,
        hypervisor_file: raw.len() as u64,
        kernel: file_size(&kernel)?,
        initrd: file_size(&initrd)?,
    };
    let load = LoadLayout::plan(board, hypervisor, &sizes)?;
    say(format!(
        "{}: booti runs hyp-arm at {hypervisor:#x} (RAM base {:#x} + text_offset {:#x}, its link \
         address); the script loads it at {:#x}, the device tree at {:#x}, the initramfs at \
         {:#x}, the kernel at {:#x}",
        board.name,
        board.ram_base,
        header.text_offset,
        load.hypervisor_staging,
        load.device_tree,
        load.initrd,
        load.kernel
    ));

    let output = layout.target().join("images").join(board.name);
    fs::create_dir_all(&output).with_context(|| format!("cannot create {}", output.display()))?;
    let script_source = output.join("boot.cmd");
    fs::write(&script_source, boot_script::script(board, &load)?)
        .with_context(|| format!("cannot write {}", script_source.display()))?;
    let script = output.join(SCRIPT_FILE);
    run(Command::new("mkimage")
        .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none"])
        .args(["-n", &format!("hyp-arm for {}", board.name)])
        .arg("-d")
        .arg(&script_source)
        .arg(&script))
    .context("mkimage (Debian package u-boot-tools) cannot pack the boot script")?;

    let mut files: Vec<BootFile> = [
        (SCRIPT_FILE, script),
        (HYPERVISOR_FILE, raw_image),
        (KERNEL_FILE, kernel),
        (INITRD_FILE, initrd),
    ]
    .into_iter()
    .map(|(name, source)| BootFile {
        name: name.to_string(),
        source,
    })
    .collect();
    if let DeviceTree::File(path) = board.device_tree {
        // Debian's kernel package ships the trees of the boards it supports.
        let source = layout
            .guest_root()
            .join(format!("usr/lib/linux-image-{kernel_version}"))
            .join(path);
        ensure!(
            source.is_file(),
            "{}: no device tree {path} in Debian's kernel package ({} does not exist)",
            board.name,
            source.display()
        );
        files.push(BootFile {
            name: device_tree_file_name(path).to_string(),
            source,
        });
    }
    let disk_image = output.join("disk.img");
    disk::write_fat_disk(&disk_image, VOLUME_LABEL, &files, &output)?;
    say(format!(
        "disk image: {} (MBR, one FAT32 partition: {}; the script's source: {})",
        disk_image.display(),
        files
            .iter()
            .map(|file| file.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        script_source.display()
    ));
    Ok(disk_image)
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len())
}

//! Where U-Boot loads hyp-arm, the guest's kernel and initramfs and the device tree, and the boot
//! script (`boot.cmd`, packed as `boot.scr`) that loads them, adds the `/chosen` boot-module nodes
//! hyp-arm reads (`platform/chosen.rs`, Xen's `multiboot,*` convention) and runs `booti`.

use anyhow::{bail, ensure, Result};

use super::arm64::IMAGE_BASE_ALIGNMENT;

/// Room for the device tree: `fdt move` gives it [`DEVICE_TREE_SIZE`] (it refuses less than
/// the tree's current size, and QEMU pads its tree to 1 MiB), and booti grows it by
/// CONFIG_SYS_FDT_PAD (12 KiB) in place when it adds its own properties.
const DEVICE_TREE_SLOT: u64 = 4 << 20;
const DEVICE_TREE_SIZE: u64 = 2 << 20;

/// The variable the script records a failed step in: U-Boot 2023.01's `exit` does not end a
/// sourced script, so the script carries on to the end and runs booti only if nothing failed.
const FAILED: &str = "hyp_arm_failed";

/// The file names on the boot partition.
pub const HYPERVISOR_FILE: &str = "hyp-arm.bin";
pub const KERNEL_FILE: &str = "Image";
pub const INITRD_FILE: &str = "initramfs.cpio.gz";

/// Which device tree hyp-arm gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceTree {
    /// The tree U-Boot runs on (`$fdtcontroladdr`): on QEMU it is QEMU's own, describing the
    /// machine exactly. The script copies it first: growing it where it is would overwrite
    /// U-Boot's global data, which lies right after it.
    UBootControl,
    /// A `.dtb` of Debian's arm64 kernel package, by its path under
    /// `usr/lib/linux-image-<version>/` (e.g. `rockchip/rk3399-rockpro64.dtb`), put on the boot
    /// partition under its file name (most real boards: U-Boot's control tree is often trimmed).
    #[allow(
        dead_code,
        reason = "no board in xtask/src/image/mod.rs uses a .dtb file yet; real U-Boot boards will"
    )]
    File(&'static str),
}

/// What the boot script needs to know about a board that boots through U-Boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UBootBoard {
    pub name: &'static str,
    /// Start of the first RAM bank, where booti places arm64 Images (2 MiB-aligned + text_offset).
    pub ram_base: u64,
    /// How far above `ram_base` the script may load files: below U-Boot, which relocates itself
    /// to the top of RAM, and below the domain RAM hyp-arm carves from the top.
    pub load_window: u64,
    pub device_tree: DeviceTree,
    /// The guest kernel's command line (its boot module's `bootargs`).
    pub guest_bootargs: &'static str,
}

/// Sizes of what the script loads, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// hyp-arm's whole footprint from its header (`image_size`, .bss included).
    pub hypervisor_footprint: u64,
    pub hypervisor_file: u64,
    pub kernel: u64,
    pub initrd: u64,
}

/// Physical addresses, each 2 MiB-aligned and none overlapping another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLayout {
    /// Where booti runs hyp-arm (RAM base + text_offset); U-Boot's `$scriptaddr` lies inside,
    /// which is harmless: booti moves the image there only after the script's last command.
    pub hypervisor: u64,
    /// Where the script loads hyp-arm's file, above its footprint; booti moves it down.
    pub hypervisor_staging: u64,
    pub device_tree: u64,
    pub initrd: u64,
    /// The kernel comes last, so a larger one on the card only grows into free memory.
    pub kernel: u64,
    /// The first byte above everything loaded.
    pub end: u64,
}

impl LoadLayout {
    /// Lays the files out one after the other above hyp-arm's footprint at `hypervisor`.
    pub fn plan(board: &UBootBoard, hypervisor: u64, sizes: &Sizes) -> Result<LoadLayout> {
        ensure!(
            sizes.hypervisor_file <= sizes.hypervisor_footprint,
            "hyp-arm's file ({} bytes) is larger than the image_size its header declares ({}): \
             the header is wrong",
            sizes.hypervisor_file,
            sizes.hypervisor_footprint
        );
        let slot = |size: u64| size.next_multiple_of(IMAGE_BASE_ALIGNMENT);
        let hypervisor_staging = slot(hypervisor + sizes.hypervisor_footprint);
        let device_tree = hypervisor_staging + slot(sizes.hypervisor_footprint);
        let initrd = device_tree + DEVICE_TREE_SLOT.max(IMAGE_BASE_ALIGNMENT);
        let kernel = initrd + slot(sizes.initrd);
        let end = kernel + slot(sizes.kernel);
        let limit = board.ram_base + board.load_window;
        ensure!(
            end <= limit,
            "{}: hyp-arm, the device tree, initramfs ({} bytes) and kernel ({} bytes) need \
             memory up to {end:#x}, beyond the {} MiB above RAM base {:#x} that the boot script \
             may use",
            board.name,
            sizes.initrd,
            sizes.kernel,
            board.load_window >> 20,
            board.ram_base
        );
        Ok(LoadLayout {
            hypervisor,
            hypervisor_staging,
            device_tree,
            initrd,
            kernel,
            end,
        })
    }
}

/// The boot script's text, for `mkimage -T script`.
pub fn script(board: &UBootBoard, layout: &LoadLayout) -> Result<String> {
    let bootargs = board.guest_bootargs;
    if let Some(bad) = bootargs
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '\\' | '$' | '\n'))
    {
        bail!(
            "{}: the guest's command line `{bootargs}` contains {bad:?}, which U-Boot's shell \
             would interpret inside the quoted bootargs (U-Boot 2023.01's shell even fails on a \
             single quote there)",
            board.name
        );
    }
    // Distro boot (and bootstd's script method) sets devtype, devnum, distro_bootpart and
    // prefix ("/" or "/boot/") for the partition it found this script on.
    let from = "${devtype} ${devnum}:${distro_bootpart}";
    let mut text = String::new();
    let mut line = |line: String| {
        text.push_str(&line);
        text.push('\n');
    };
    line(format!(
        "# hyp-arm for {name}: written by `cargo xtask image --board {name}`; rebuild, do not edit.",
        name = board.name
    ));
    line(
        "# Loads hyp-arm and the guest's kernel and initramfs from this partition, describes the"
            .into(),
    );
    line("# two as /chosen boot modules in the device tree and boots hyp-arm with booti.".into());
    line(format!("echo \"hyp-arm: boot script for {}\"", board.name));
    line(format!("setenv {FAILED}"));
    let checked = |command: String, what: &str| format!("{command} || setenv {FAILED} \"{what}\"");
    let load = |address: u64, file: &str| {
        checked(
            format!("load {from} {address:#x} ${{prefix}}{file}"),
            &format!("loading {file}"),
        )
    };
    line(load(layout.hypervisor_staging, HYPERVISOR_FILE));
    line(load(layout.kernel, KERNEL_FILE));
    line("setenv hyp_arm_kernel_size 0x${filesize}".into());
    line(load(layout.initrd, INITRD_FILE));
    line("setenv hyp_arm_initrd_size 0x${filesize}".into());
    match board.device_tree {
        DeviceTree::UBootControl => {
            // `fdt move` works on the current tree: select U-Boot's first.
            line(checked(
                "fdt addr ${fdtcontroladdr}".into(),
                "selecting the device tree of U-Boot",
            ));
            line(checked(
                format!(
                    "fdt move ${{fdtcontroladdr}} {:#x} {DEVICE_TREE_SIZE:#x}",
                    layout.device_tree
                ),
                "copying the device tree",
            ));
        }
        DeviceTree::File(path) => {
            let file = device_tree_file_name(path);
            line(load(layout.device_tree, file));
            line(checked(
                format!("fdt addr {:#x}", layout.device_tree),
                &format!("reading {file}"),
            ));
            line(checked(
                format!("fdt resize {:#x}", 64 << 10),
                "making room in the device tree",
            ));
        }
    }
    // hyp-arm reads module addresses with /chosen's cells (two and two, 64-bit).
    let mut edits = vec![
        "fdt set /chosen \\#address-cells <0x2>".to_string(),
        "fdt set /chosen \\#size-cells <0x2>".to_string(),
    ];
    for (address, compatible, size) in [
        (layout.kernel, "kernel", "hyp_arm_kernel_size"),
        (layout.initrd, "ramdisk", "hyp_arm_initrd_size"),
    ] {
        let node = format!("/chosen/module@{address:x}");
        edits.push(format!("fdt mknode /chosen module@{address:x}"));
        edits.push(format!(
            "fdt set {node} compatible \"multiboot,{compatible}\" \"multiboot,module\""
        ));
        edits.push(format!(
            "fdt set {node} reg <{:#x} {:#x} 0x0 ${{{size}}}>",
            address >> 32,
            address & 0xffff_ffff
        ));
        if compatible == "kernel" {
            edits.push(format!("fdt set {node} bootargs \"{bootargs}\""));
        }
    }
    for edit in edits {
        line(checked(edit, "describing the boot modules"));
    }
    line(
        "# Use the tree where it is: it lies below everything hyp-arm carves for its domains."
            .into(),
    );
    line("setenv fdt_high 0xffffffffffffffff".into());
    line(format!("if test -n \"${{{FAILED}}}\"; then"));
    line(format!(
        "  echo \"hyp-arm: not booting: ${{{FAILED}}} failed (the messages above say why)\""
    ));
    line("else".into());
    line(format!(
        "  booti {:#x} - {:#x}",
        layout.hypervisor_staging, layout.device_tree
    ));
    line("  echo \"hyp-arm: booti returned: the messages above say why\"".into());
    line("fi".into());
    Ok(text)
}

/// The name on the boot partition of the device tree at `path` in the kernel package.
pub fn device_tree_file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_VIRT: UBootBoard = UBootBoard {
        name: "qemu-virt",
        ram_base: 0x4000_0000,
        load_window: 256 << 20,
        device_tree: DeviceTree::UBootControl,
        guest_bootargs: "console=ttyAMA0",
    };

    const SIZES: Sizes = Sizes {
        hypervisor_footprint: 0x30_0000,
        hypervisor_file: 0x12_3456,
        kernel: 32_956_352,
        initrd: 1_522_529,
    };

    #[test]
    fn layout_is_aligned_and_does_not_overlap() {
        let layout = LoadLayout::plan(&QEMU_VIRT, 0x4020_0000, &SIZES).expect("fits");
        let regions = [
            (layout.hypervisor, SIZES.hypervisor_footprint),
            (layout.hypervisor_staging, SIZES.hypervisor_footprint),
            (layout.device_tree, DEVICE_TREE_SLOT),
            (layout.initrd, SIZES.initrd),
            (layout.kernel, SIZES.kernel),
        ];
        for (index, &(start, size)) in regions.iter().enumerate() {
            assert_eq!(
                start % IMAGE_BASE_ALIGNMENT,
                0,
                "region {index} at {start:#x}"
            );
            for &(other, other_size) in &regions[index + 1..] {
                assert!(
                    start + size <= other || other + other_size <= start,
                    "{start:#x}+{size:#x} overlaps {other:#x}+{other_size:#x}"
                );
            }
        }
        assert_eq!(layout.hypervisor_staging, 0x4060_0000);
        assert!(layout.end <= 0x4000_0000 + (256 << 20));
        assert_eq!(layout.end, layout.kernel + 0x200_0000);
    }

    #[test]
    fn too_much_for_the_window_is_refused() {
        let sizes = Sizes {
            kernel: 300 << 20,
            ..SIZES
        };
        let error = LoadLayout::plan(&QEMU_VIRT, 0x4020_0000, &sizes).expect_err("too big");
        assert!(error.to_string().contains("256 MiB"), "{error}");
        let lying_header = Sizes {
            hypervisor_file: 0x40_0000,
            ..SIZES
        };
        assert!(LoadLayout::plan(&QEMU_VIRT, 0x4020_0000, &lying_header).is_err());
    }

    #[test]
    fn script_describes_both_modules_and_boots_hyp_arm() {
        let layout = LoadLayout::plan(&QEMU_VIRT, 0x4020_0000, &SIZES).expect("fits");
        let text = script(&QEMU_VIRT, &layout).expect("valid");
        let kernel = format!("/chosen/module@{:x}", layout.kernel);
        let initrd = format!("/chosen/module@{:x}", layout.initrd);
        for expected in [
            format!("{kernel} compatible \"multiboot,kernel\" \"multiboot,module\""),
            format!(
                "{kernel} reg <0x0 {:#x} 0x0 ${{hyp_arm_kernel_size}}>",
                layout.kernel
            ),
            format!("{kernel} bootargs \"console=ttyAMA0\""),
            format!("{initrd} compatible \"multiboot,ramdisk\" \"multiboot,module\""),
            format!(
                "{initrd} reg <0x0 {:#x} 0x0 ${{hyp_arm_initrd_size}}>",
                layout.initrd
            ),
            format!("fdt move ${{fdtcontroladdr}} {:#x} ", layout.device_tree),
            format!(
                "  booti {:#x} - {:#x}\n",
                layout.hypervisor_staging, layout.device_tree
            ),
        ] {
            assert!(text.contains(&expected), "no `{expected}` in\n{text}");
        }
        // The module nodes are made before their properties are set.
        let made = text.find(&format!("mknode /chosen module@{:x}", layout.kernel));
        let set = text.find(&format!("set {kernel} reg"));
        assert!(made < set);
    }

    #[test]
    fn a_device_tree_file_is_loaded_and_resized() {
        let board = UBootBoard {
            device_tree: DeviceTree::File("vendor/board.dtb"),
            ..QEMU_VIRT
        };
        let layout = LoadLayout::plan(&board, 0x4020_0000, &SIZES).expect("fits");
        let text = script(&board, &layout).expect("valid");
        assert!(text.contains(&format!("{:#x} ${{prefix}}board.dtb", layout.device_tree)));
        assert!(text.contains(&format!("fdt addr {:#x}", layout.device_tree)));
        assert!(!text.contains("fdtcontroladdr"));
    }

    #[test]
    fn bootargs_the_shell_would_change_are_refused() {
        let board = UBootBoard {
            guest_bootargs: "console=ttyAMA0 root=$x",
            ..QEMU_VIRT
        };
        let layout = LoadLayout::plan(&board, 0x4020_0000, &SIZES).expect("fits");
        assert!(script(&board, &layout).is_err());
        let quoted = UBootBoard {
            guest_bootargs: "console=ttyAMA0 name='x'",
            ..QEMU_VIRT
        };
        assert!(script(&quoted, &layout).is_err());
    }
}

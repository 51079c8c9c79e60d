//! Debian's Xen 4.17 for the benchmarks that run beside it: fetching the hypervisor image, and
//! the QEMU arguments that boot it with a dom0 kernel (and ramdisk) as guest-loader modules.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use hyp_arm_system_tests::command_line::option_value;

use crate::layout::Layout;
use crate::process::{self, run, say};

/// Debian's Xen hypervisor package.
const PACKAGE: &str = "xen-hypervisor-4.17-arm64";

/// Xen's console: the PL011 of QEMU's `virt` machine, named by its device-tree path.
pub const UART_CONSOLE: &str = "console=dtuart dtuart=/pl011@9000000";

/// Where the dom0 kernel module goes. Xen is a Linux-format image, for which QEMU puts the
/// device tree at RAM + 128 MiB (0x4800_0000, hw/arm/boot.c): the modules go above it.
const KERNEL_ADDRESS: u64 = 0x5000_0000;

/// Modules start on 2 MiB boundaries (Xen copies them out to dom0's memory; the alignment only
/// keeps the layout easy to read in Xen's log).
const MODULE_ALIGNMENT: u64 = 2 << 20;

/// The top of the 2 GiB the benchmarks give QEMU (RAM starts at 0x4000_0000): every module ends
/// below it.
const RAM_END: u64 = 0xC000_0000;

/// What Xen is told and what it starts as dom0.
pub struct XenBoot<'a> {
    /// Xen's command line (`dom0_mem=...`, its console, ...).
    pub command_line: String,
    /// dom0's kernel: an arm64 Linux `Image` or any other image Xen loads as one.
    pub dom0_kernel: &'a Path,
    /// dom0's command line, if it needs one (guest-loader's `bootargs`).
    pub dom0_bootargs: Option<String>,
    /// dom0's initramfs, loaded after the kernel as a second module.
    pub dom0_ramdisk: Option<&'a Path>,
}

impl XenBoot<'_> {
    /// The QEMU arguments after the machine's: `-kernel <xen> -append ... -device guest-loader,...`.
    /// QEMU's guest-loader (docs/system/guest-loader.rst) writes a `/chosen/module@<address>` node
    /// per module, "multiboot,kernel" for the first and "multiboot,ramdisk" for an initrd, which
    /// is what Xen reads its dom0 from.
    pub fn arguments(&self, xen: &Path) -> Result<Vec<OsString>> {
        let mut kernel = format!(
            "guest-loader,addr={KERNEL_ADDRESS:#x},kernel={}",
            option_value(&self.dom0_kernel.to_string_lossy())
        );
        if let Some(bootargs) = &self.dom0_bootargs {
            kernel.push_str(&format!(",bootargs={}", option_value(bootargs)));
        }
        let mut arguments: Vec<OsString> = vec![
            "-kernel".into(),
            xen.into(),
            "-append".into(),
            self.command_line.clone().into(),
            "-device".into(),
            kernel.into(),
        ];
        let kernel_size = file_size(self.dom0_kernel)?;
        if let Some(ramdisk) = self.dom0_ramdisk {
            let address = module_after(KERNEL_ADDRESS, kernel_size);
            let size = file_size(ramdisk)?;
            ensure!(
                address.saturating_add(size) <= RAM_END,
                "the dom0 kernel {} and ramdisk {} do not fit below {RAM_END:#x}",
                self.dom0_kernel.display(),
                ramdisk.display()
            );
            arguments.push("-device".into());
            arguments.push(
                format!(
                    "guest-loader,addr={address:#x},initrd={}",
                    option_value(&ramdisk.to_string_lossy())
                )
                .into(),
            );
        } else {
            ensure!(
                KERNEL_ADDRESS.saturating_add(kernel_size) <= RAM_END,
                "the dom0 kernel {} does not fit below {RAM_END:#x}",
                self.dom0_kernel.display()
            );
        }
        Ok(arguments)
    }
}

/// The first module address after a module of `size` bytes at `address`.
fn module_after(address: u64, size: u64) -> u64 {
    (address + size).div_ceil(MODULE_ALIGNMENT) * MODULE_ALIGNMENT
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len())
}

/// Debian's Xen hypervisor, downloaded and unpacked into `target/xen/` unless already there.
/// (`cargo xtask deps` enables the arm64 architecture in dpkg.)
pub fn image(layout: &Layout) -> Result<PathBuf> {
    let dir = layout.target().join("xen");
    let image = dir.join("root/boot/xen-4.17-arm64");
    if image.is_file() {
        return Ok(image);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    say(format!("downloading Xen ({PACKAGE})"));
    // apt's download sandbox user may not be able to write here; root downloads as root.
    let mut download = Command::new("apt-get");
    download.current_dir(&dir).arg("download");
    if process::is_root() {
        download.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(download.arg(format!("{PACKAGE}:arm64")))?;
    let deb = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(PACKAGE))
        })
        .with_context(|| format!("apt-get download left no {PACKAGE} in {}", dir.display()))?;
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.join("root")))?;
    ensure!(
        image.is_file(),
        "{} has no {}",
        deb.display(),
        image.display()
    );
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_follow_each_other_on_2_mib_boundaries() {
        assert_eq!(module_after(0x5000_0000, 1), 0x5020_0000);
        assert_eq!(module_after(0x5000_0000, 0x20_0000), 0x5020_0000);
        assert_eq!(module_after(0x5000_0000, 0x1f6_dfc0), 0x5200_0000);
    }

    #[test]
    fn kernel_with_bootargs_then_ramdisk() {
        let dir = std::env::temp_dir().join(format!("xtask-xen-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temporary directory");
        let kernel = dir.join("Image");
        let ramdisk = dir.join("initrd,1");
        fs::write(&kernel, vec![0u8; 3 << 20]).expect("kernel file");
        fs::write(&ramdisk, b"ramdisk").expect("ramdisk file");
        let boot = XenBoot {
            command_line: "dom0_mem=1G".to_string(),
            dom0_kernel: &kernel,
            dom0_bootargs: Some("console=hvc0 hyptest=boot".to_string()),
            dom0_ramdisk: Some(&ramdisk),
        };
        let arguments: Vec<String> = boot
            .arguments(Path::new("xen"))
            .expect("arguments")
            .into_iter()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(
            &arguments[..4],
            ["-kernel", "xen", "-append", "dom0_mem=1G"]
        );
        assert_eq!(
            arguments[5],
            format!(
                "guest-loader,addr=0x50000000,kernel={},bootargs=console=hvc0 hyptest=boot",
                kernel.display()
            )
        );
        // A 3 MiB kernel: the ramdisk starts at the next 2 MiB boundary, its comma doubled.
        assert_eq!(
            arguments[7],
            format!(
                "guest-loader,addr=0x50400000,initrd={}",
                ramdisk.display().to_string().replace(',', ",,")
            )
        );
    }
}

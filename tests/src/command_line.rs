//! The QEMU command line for hyp-arm and its guest, shared by `cargo xtask run`, the system tests and benchmarks.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// The QEMU binary (Debian package `qemu-system-arm`).
pub const QEMU: &str = "qemu-system-aarch64";

// Physical memory layout of the boot modules (RAM starts at 0x4000_0000 on QEMU virt), as the
// issue's documented command line has them. With a Linux-format `-kernel`, QEMU would put its
// device tree at RAM base + 128 MiB = 0x4800_0000 (hw/arm/boot.c) and silently overwrite the
// kernel module there; hyp-arm.img is an ELF, for which QEMU puts the tree at the start of RAM.

/// Where QEMU's guest-loader places the guest kernel in physical memory.
pub const GUEST_KERNEL_ADDRESS: u64 = 0x4800_0000;

/// Where QEMU's guest-loader places the guest initrd, below the kernel.
pub const GUEST_INITRD_ADDRESS: u64 = 0x4700_0000;

/// The largest guest kernel: it must end below the guest RAM hyp-arm carves from the top of 2 GiB.
pub const GUEST_KERNEL_MAX_SIZE: u64 = 0x8000_0000 - GUEST_KERNEL_ADDRESS;

/// The largest initrd that ends below the kernel.
pub const GUEST_INITRD_MAX_SIZE: u64 = GUEST_KERNEL_ADDRESS - GUEST_INITRD_ADDRESS;

/// Kernel command line every guest gets; tests append `hyptest=<mode>`.
pub const BASE_BOOTARGS: &str = "console=ttyAMA0";

/// The GIC architecture version of the emulated machine (`-M virt,gic-version=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

impl fmt::Display for GicVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            GicVersion::V2 => "2",
            GicVersion::V3 => "3",
        })
    }
}

impl FromStr for GicVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "2" => Ok(GicVersion::V2),
            "3" => Ok(GicVersion::V3),
            _ => Err(format!("GIC version must be 2 or 3, not `{text}`")),
        }
    }
}

/// What QEMU's `-kernel` boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootTarget {
    /// hyp-arm, with the guest kernel and initrd handed over as device-tree boot modules.
    HypArm,
    /// The same, with hyp-arm built from `domains-pinned.toml` (`HYP_ARM_PINNED_IMAGE`): every
    /// vCPU on a physical CPU of its own.
    HypArmPinned,
    /// The guest kernel directly, without hyp-arm: tells guest problems from hypervisor problems.
    BareKernel,
}

/// How the emulated serial port is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// `-nographic`: serial and QEMU monitor multiplexed on stdio (Ctrl-A x quits), for people.
    Interactive,
    /// `-display none -serial stdio -monitor none`: serial only, for capturing output.
    Captured,
}

/// The machine and guest parameters that vary between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    pub gic_version: GicVersion,
    /// A QEMU CPU model, e.g. `cortex-a57`.
    pub cpu: String,
    /// Number of physical CPUs of the emulated machine.
    pub smp: u32,
    /// RAM size in QEMU's `-m` syntax, e.g. `2G`.
    pub memory: String,
    /// Appended to [`BASE_BOOTARGS`], e.g. `hyptest=boot`; empty for an interactive shell.
    pub bootargs_extra: String,
    pub target: BootTarget,
}

impl Default for BootConfig {
    /// The documented command line: GICv3, four Cortex-A57, 2 GiB, under hyp-arm.
    fn default() -> Self {
        BootConfig {
            gic_version: GicVersion::V3,
            cpu: "cortex-a57".into(),
            smp: 4,
            memory: "2G".into(),
            bootargs_extra: String::new(),
            target: BootTarget::HypArm,
        }
    }
}

impl BootConfig {
    /// The guest kernel's command line.
    pub fn bootargs(&self) -> String {
        let extra = self.bootargs_extra.trim();
        if extra.is_empty() {
            BASE_BOOTARGS.to_string()
        } else {
            format!("{BASE_BOOTARGS} {extra}")
        }
    }
}

/// The files QEMU loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// The raw hyp-arm image, `target/images/<board>/hyp-arm.img`.
    pub hypervisor: PathBuf,
    /// An arm64 Linux `Image`.
    pub guest_kernel: PathBuf,
    /// A (compressed) cpio initramfs.
    pub guest_initrd: PathBuf,
}

/// The arguments after `qemu-system-aarch64`.
pub fn arguments(config: &BootConfig, images: &Images, console: Console) -> Vec<OsString> {
    let mut arguments = machine_arguments(config, console);
    match config.target {
        BootTarget::HypArm | BootTarget::HypArmPinned => {
            arguments.push("-kernel".into());
            arguments.push(images.hypervisor.clone().into());
            arguments.push("-device".into());
            arguments.push(
                format!(
                    "guest-loader,addr={GUEST_KERNEL_ADDRESS:#x},kernel={},bootargs={}",
                    option_value(&images.guest_kernel.to_string_lossy()),
                    option_value(&config.bootargs()),
                )
                .into(),
            );
            arguments.push("-device".into());
            arguments.push(
                format!(
                    "guest-loader,addr={GUEST_INITRD_ADDRESS:#x},initrd={}",
                    option_value(&images.guest_initrd.to_string_lossy()),
                )
                .into(),
            );
        }
        BootTarget::BareKernel => {
            arguments.push("-kernel".into());
            arguments.push(images.guest_kernel.clone().into());
            arguments.push("-initrd".into());
            arguments.push(images.guest_initrd.clone().into());
            arguments.push("-append".into());
            arguments.push(config.bootargs().into());
        }
    }
    arguments
}

/// The machine and console arguments alone (`-M ... -cpu ... -smp ... -m ...` and the serial
/// port), for a command line that boots something else, such as firmware with `-bios`.
pub fn machine_arguments(config: &BootConfig, console: Console) -> Vec<OsString> {
    let mut arguments: Vec<OsString> = Vec::new();
    let mut push = |argument: &str| arguments.push(argument.into());
    push("-M");
    push(&format!(
        "virt,virtualization=on,gic-version={}",
        config.gic_version
    ));
    push("-cpu");
    push(&config.cpu);
    push("-smp");
    push(&config.smp.to_string());
    push("-m");
    push(&config.memory);
    match console {
        Console::Interactive => push("-nographic"),
        Console::Captured => {
            for argument in ["-display", "none", "-serial", "stdio", "-monitor", "none"] {
                push(argument);
            }
        }
    }
    arguments
}

/// A ready-to-spawn QEMU process (stdio not yet configured).
pub fn command(config: &BootConfig, images: &Images, console: Console) -> Command {
    let mut command = Command::new(QEMU);
    command.args(arguments(config, images, console));
    command
}

/// Escapes a value inside a QEMU `-device a=b,c=d` option: a literal comma is written `,,`.
pub fn option_value(value: &str) -> String {
    value.replace(',', ",,")
}

/// The command line as a person would type it into a POSIX shell, for printing.
pub fn shell_words<I, S>(program: &str, arguments: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut line = shell_quote(program);
    for argument in arguments {
        line.push(' ');
        line.push_str(&shell_quote(&argument.as_ref().to_string_lossy()));
    }
    line
}

fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The images `cargo xtask` produces, relative to the repository root (as the README shows them).
pub fn relative_images(board: &str) -> Images {
    Images {
        hypervisor: Path::new("target/images").join(board).join("hyp-arm.img"),
        guest_kernel: PathBuf::from("target/guest/Image"),
        guest_initrd: PathBuf::from("target/guest/initramfs.cpio.gz"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(arguments: Vec<OsString>) -> Vec<String> {
        arguments
            .into_iter()
            .map(|argument| argument.into_string().expect("test paths are UTF-8"))
            .collect()
    }

    #[test]
    fn documented_command_line() {
        let config = BootConfig {
            bootargs_extra: "hyptest=boot".into(),
            ..BootConfig::default()
        };
        let arguments = strings(arguments(
            &config,
            &relative_images("qemu-virt"),
            Console::Interactive,
        ));
        assert_eq!(
            arguments.join(" "),
            "-M virt,virtualization=on,gic-version=3 -cpu cortex-a57 -smp 4 -m 2G -nographic \
             -kernel target/images/qemu-virt/hyp-arm.img \
             -device guest-loader,addr=0x48000000,kernel=target/guest/Image,bootargs=console=ttyAMA0 hyptest=boot \
             -device guest-loader,addr=0x47000000,initrd=target/guest/initramfs.cpio.gz"
        );
        // The bootargs, spaces included, are one argument.
        assert!(arguments.contains(
            &"guest-loader,addr=0x48000000,kernel=target/guest/Image,bootargs=console=ttyAMA0 hyptest=boot".to_string()
        ));
    }

    #[test]
    fn captured_console_and_bare_kernel() {
        let config = BootConfig {
            gic_version: GicVersion::V2,
            cpu: "cortex-a53".into(),
            smp: 1,
            target: BootTarget::BareKernel,
            bootargs_extra: " hyptest=poweroff ".into(),
            ..BootConfig::default()
        };
        let arguments = strings(arguments(
            &config,
            &relative_images("qemu-virt"),
            Console::Captured,
        ));
        assert_eq!(
            arguments,
            [
                "-M",
                "virt,virtualization=on,gic-version=2",
                "-cpu",
                "cortex-a53",
                "-smp",
                "1",
                "-m",
                "2G",
                "-display",
                "none",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-kernel",
                "target/guest/Image",
                "-initrd",
                "target/guest/initramfs.cpio.gz",
                "-append",
                "console=ttyAMA0 hyptest=poweroff",
            ]
        );
    }

    #[test]
    fn commas_in_option_values_are_doubled() {
        let images = Images {
            hypervisor: "/h".into(),
            guest_kernel: "/a,b/Image".into(),
            guest_initrd: "/i".into(),
        };
        let config = BootConfig {
            bootargs_extra: "x=1,2".into(),
            ..BootConfig::default()
        };
        let arguments = strings(arguments(&config, &images, Console::Captured));
        assert!(arguments.contains(
            &"guest-loader,addr=0x48000000,kernel=/a,,b/Image,bootargs=console=ttyAMA0 x=1,,2"
                .to_string()
        ));
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(
            shell_words("qemu", ["-m", "2G", "a b", "it's", ""]),
            r#"qemu -m 2G 'a b' 'it'\''s' ''"#
        );
    }

    #[test]
    fn gic_version_parses() {
        assert_eq!("2".parse(), Ok(GicVersion::V2));
        assert_eq!("3".parse(), Ok(GicVersion::V3));
        assert!("4".parse::<GicVersion>().is_err());
    }
}

//! `cargo xtask deps`: installs the Rust target and tools, QEMU, dtc, and the guest's Debian packages.
//!
//! Every step checks first and does nothing when its result is already there, so running it again
//! is quick.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use flate2::read::GzDecoder;
use hyp_arm_system_tests::command_line::GUEST_KERNEL_MAX_SIZE;

use crate::layout::Layout;
use crate::process::{find_program, find_system_program, is_root, output, run, say};

/// The Rust target the hypervisor is built for.
pub const FIRMWARE_TARGET: &str = "aarch64-unknown-none-softfloat";

/// The Rust target of the static Linux programs in the guest's initramfs (images/binder-client).
pub const GUEST_PROGRAM_TARGET: &str = "aarch64-unknown-linux-musl";

/// Rust targets, each with what it is for (said when it is installed or fails to install).
const RUST_TARGETS: &[(&str, &str)] = &[
    (
        FIRMWARE_TARGET,
        "the hypervisor and the bare-metal test guests",
    ),
    (
        GUEST_PROGRAM_TARGET,
        "the static Linux programs of the guest's initramfs, such as /bin/binder-client",
    ),
];

/// rustup components: llvm-objcopy for the raw image, and the linters CI runs.
const RUST_COMPONENTS: &[&str] = &["llvm-tools", "rustfmt", "clippy"];

/// Programs on the host and the Debian packages providing them.
const HOST_PROGRAMS: &[(&str, &str)] = &[
    ("qemu-system-aarch64", "qemu-system-arm"),
    ("dtc", "device-tree-compiler"),
];

/// What `cargo xtask image` runs, and the Debian packages providing it: the boot script's
/// packer, the FAT file system's maker (in /usr/sbin) and the tool that copies files into it.
const IMAGE_PROGRAMS: &[(&str, &str)] = &[
    ("mkimage", "u-boot-tools"),
    ("mkfs.vfat", "dosfstools"),
    ("mcopy", "mtools"),
];

/// Debian's U-Boot for QEMU's virt machine, which the U-Boot system test boots (`-bios`).
pub const UBOOT_QEMU_FIRMWARE: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
const UBOOT_QEMU_PACKAGE: &str = "u-boot-qemu";

/// Debian's metapackage depending on the current arm64 kernel.
const KERNEL_METAPACKAGE: &str = "linux-image-arm64";
const BUSYBOX_PACKAGE: &str = "busybox-static";
const GUEST_ARCHITECTURE: &str = "arm64";

/// Installs everything `build`, `run` and `test` need.
pub fn install(layout: &Layout) -> Result<()> {
    rust_tools(layout)?;
    let mut apt = Apt::new();
    host_programs(&mut apt)?;
    image_programs(&mut apt)?;
    guest(layout, &mut apt)?;
    say("all dependencies are installed");
    Ok(())
}

/// The Rust targets (firmware, guest programs) and the rustup components.
pub fn rust_tools(layout: &Layout) -> Result<()> {
    if find_program("rustup").is_none() {
        bail!("rustup is not installed; get it from https://rustup.rs and run `cargo xtask deps` again");
    }
    let rustup = || {
        let mut command = Command::new("rustup");
        // A rust-toolchain file in the repository decides the toolchain.
        command.current_dir(&layout.root);
        command
    };
    let targets = output(rustup().args(["target", "list", "--installed"]))?;
    for (target, purpose) in RUST_TARGETS {
        if targets.lines().any(|line| line.trim() == *target) {
            say(format!("Rust target {target}: installed"));
        } else {
            say(format!(
                "installing Rust target {target} ({purpose}) with rustup ..."
            ));
            run(rustup().args(["target", "add", target])).with_context(|| {
                format!("cannot install the Rust target {target}, needed for {purpose}")
            })?;
        }
    }
    let components = output(rustup().args(["component", "list", "--installed"]))?;
    for component in RUST_COMPONENTS {
        // Installed components are listed with their host triple, e.g. `llvm-tools-x86_64-...`.
        let installed = components.lines().any(|line| {
            let line = line.trim();
            line == *component || line.starts_with(&format!("{component}-"))
        });
        if installed {
            say(format!("Rust component {component}: installed"));
        } else {
            say(format!(
                "installing Rust component {component} with rustup ..."
            ));
            run(rustup().args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// QEMU and dtc.
fn host_programs(apt: &mut Apt) -> Result<()> {
    let mut missing = Vec::new();
    for (program, package) in HOST_PROGRAMS {
        match find_program(program) {
            Some(path) => say(format!("{program}: {}", path.display())),
            None => missing.push(*package),
        }
    }
    if !missing.is_empty() {
        say(format!("installing {} with apt-get ...", missing.join(" ")));
        apt.install(&missing)?;
    }
    Ok(())
}

/// What `cargo xtask image` needs: mkimage, mkfs.vfat and mcopy, and U-Boot for QEMU.
pub fn image_tools() -> Result<()> {
    image_programs(&mut Apt::new())
}

fn image_programs(apt: &mut Apt) -> Result<()> {
    let mut missing = Vec::new();
    for (program, package) in IMAGE_PROGRAMS {
        match find_system_program(program) {
            Some(path) => say(format!("{program}: {}", path.display())),
            None => missing.push(*package),
        }
    }
    if Path::new(UBOOT_QEMU_FIRMWARE).is_file() {
        say(format!("U-Boot for QEMU: {UBOOT_QEMU_FIRMWARE}"));
    } else {
        missing.push(UBOOT_QEMU_PACKAGE);
    }
    if !missing.is_empty() {
        say(format!("installing {} with apt-get ...", missing.join(" ")));
        apt.install(&missing)?;
    }
    Ok(())
}

/// apt-get, run at most one `apt-get update` per xtask invocation.
pub struct Apt {
    root: bool,
    updated: bool,
}

impl Apt {
    pub fn new() -> Apt {
        Apt {
            root: is_root(),
            updated: false,
        }
    }

    /// Fails with the command to run when xtask may not do it itself.
    fn require(&self, commands: &[String]) -> Result<()> {
        if find_program("apt-get").is_none() {
            bail!(
                "apt-get is not available: on a system other than Debian or Ubuntu, do the \
                 equivalent of `{}` by hand",
                commands.join(" && ")
            );
        }
        if !self.root {
            let sudo: Vec<String> = commands.iter().map(|c| format!("sudo {c}")).collect();
            bail!(
                "this needs root; run `{}`, then `cargo xtask deps` again",
                sudo.join(" && ")
            );
        }
        Ok(())
    }

    fn update(&mut self) -> Result<()> {
        if self.updated {
            return Ok(());
        }
        self.require(&["apt-get update".to_string()])?;
        say("updating apt's package lists with apt-get update ...");
        run(Command::new("apt-get").arg("update"))?;
        self.updated = true;
        Ok(())
    }

    /// Installs `packages` (after one `apt-get update`), or fails with the commands to run.
    pub fn install(&mut self, packages: &[&str]) -> Result<()> {
        let install = format!("apt-get install -y {}", packages.join(" "));
        self.require(&["apt-get update".to_string(), install])?;
        self.update()?;
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y"])
            .args(packages))
    }
}

/// Debian's arm64 kernel and busybox, fetched unless already there; returns the kernel version.
pub fn guest_packages(layout: &Layout) -> Result<String> {
    guest(layout, &mut Apt::new())
}

/// The guest kernel version if `target/guest` already holds the kernel, busybox and modules.
pub fn installed_guest(layout: &Layout) -> Option<String> {
    let version = fs::read_to_string(layout.guest_stamp()).ok()?;
    let version = version.trim().to_string();
    let complete = layout.guest_kernel().is_file()
        && layout.busybox().is_file()
        && guest_modules(layout, &version).is_ok();
    complete.then_some(version)
}

/// `lib/modules/<version>` of the extracted kernel package.
pub fn guest_modules(layout: &Layout, version: &str) -> Result<PathBuf> {
    let root = layout.guest_root();
    ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|dir| root.join(dir).join(version))
        .find(|dir| dir.is_dir())
        .with_context(|| {
            format!(
                "no kernel modules for {version} under {}; run `cargo xtask deps`",
                root.display()
            )
        })
}

/// Debian's arm64 kernel and busybox into `target/guest`; returns the kernel version.
fn guest(layout: &Layout, apt: &mut Apt) -> Result<String> {
    if let Some(version) = installed_guest(layout) {
        say(format!(
            "guest kernel {version} and busybox: in {} (delete it to fetch again)",
            layout.guest().display()
        ));
        return Ok(version);
    }
    for program in ["apt-get", "apt-cache", "dpkg", "dpkg-deb"] {
        ensure!(
            find_program(program).is_some(),
            "{program} is not available: the guest kernel and busybox come from Debian's arm64 \
             packages, fetched with apt and unpacked with dpkg"
        );
    }
    enable_guest_architecture(apt)?;
    let kernel_package = kernel_package(apt)?;
    let version = kernel_package
        .strip_prefix("linux-image-")
        .with_context(|| format!("unexpected kernel package name {kernel_package}"))?
        .to_string();
    say(format!(
        "guest kernel: {kernel_package} (version {version})"
    ));

    let debs = [
        download(layout, apt, &kernel_package)?,
        download(layout, apt, BUSYBOX_PACKAGE)?,
    ];
    let root = layout.guest_root();
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("cannot remove {}", root.display()))?;
    }
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    for deb in &debs {
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root)).with_context(|| {
            format!("{} may be damaged; delete it and run again", deb.display())
        })?;
    }

    install_kernel_image(
        &root.join("boot").join(format!("vmlinuz-{version}")),
        &layout.guest_kernel(),
    )?;
    let busybox = ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|path| root.join(path))
        .find(|path| path.is_file())
        .with_context(|| format!("{BUSYBOX_PACKAGE} has no bin/busybox"))?;
    copy(&busybox, &layout.busybox())?;
    guest_modules(layout, &version)?;
    fs::write(layout.guest_stamp(), format!("{version}\n"))
        .with_context(|| format!("cannot write {}", layout.guest_stamp().display()))?;
    say(format!(
        "guest ready: {} and {}",
        layout.guest_kernel().display(),
        layout.busybox().display()
    ));
    Ok(version)
}

/// Lets apt fetch arm64 packages on a host of another architecture.
fn enable_guest_architecture(apt: &mut Apt) -> Result<()> {
    let native = output(Command::new("dpkg").arg("--print-architecture"))?;
    let foreign = output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if native.trim() == GUEST_ARCHITECTURE
        || foreign.lines().any(|a| a.trim() == GUEST_ARCHITECTURE)
    {
        say(format!("dpkg architecture {GUEST_ARCHITECTURE}: enabled"));
        return Ok(());
    }
    apt.require(&[
        format!("dpkg --add-architecture {GUEST_ARCHITECTURE}"),
        "apt-get update".to_string(),
    ])?;
    say(format!(
        "adding dpkg architecture {GUEST_ARCHITECTURE} (for the guest's packages) ..."
    ));
    run(Command::new("dpkg").args(["--add-architecture", GUEST_ARCHITECTURE]))?;
    apt.updated = false;
    apt.update()
}

/// The real kernel package behind the metapackage, e.g. `linux-image-6.1.0-56-arm64`.
fn kernel_package(apt: &mut Apt) -> Result<String> {
    let metapackage = format!("{KERNEL_METAPACKAGE}:{GUEST_ARCHITECTURE}");
    let query = || output(Command::new("apt-cache").args(["depends", &metapackage]));
    let dependencies = match query() {
        Ok(dependencies) => dependencies,
        // The lists may predate the arm64 architecture; refresh once and ask again.
        Err(_) if apt.root && !apt.updated => {
            apt.update()?;
            query()?
        }
        Err(error) => {
            return Err(error).context(format!(
                "apt does not know {metapackage}; run `sudo apt-get update` and try again"
            ))
        }
    };
    parse_kernel_dependency(&dependencies).with_context(|| {
        format!("`apt-cache depends {metapackage}` names no kernel package:\n{dependencies}")
    })
}

/// Finds `linux-image-<version>` in `apt-cache depends` output.
fn parse_kernel_dependency(dependencies: &str) -> Option<String> {
    dependencies.lines().find_map(|line| {
        let package = line.trim().strip_prefix("Depends:")?.trim();
        let package = package.trim_start_matches('<').trim_end_matches('>');
        let package = package.split(':').next()?;
        package
            .starts_with("linux-image-")
            .then(|| package.to_string())
    })
}

/// `target/guest/debs/<package>_<version>_arm64.deb`, downloaded unless already there.
fn download(layout: &Layout, apt: &mut Apt, package: &str) -> Result<PathBuf> {
    let dir = layout.guest_debs();
    if let Some(deb) = find_deb(&dir, package)? {
        say(format!("{package}: already downloaded ({})", deb.display()));
        return Ok(deb);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let root = apt.root;
    let attempt = || {
        let mut command = Command::new("apt-get");
        command.current_dir(&dir).arg("download");
        if root {
            // apt's download sandbox user cannot write here; without this apt warns about it.
            command.args(["-o", "APT::Sandbox::User=root"]);
        }
        run(command.arg(format!("{package}:{GUEST_ARCHITECTURE}")))
    };
    if let Err(error) = attempt() {
        // Outdated lists name package versions the mirror no longer has.
        if apt.root && !apt.updated {
            apt.update()?;
            attempt()?;
        } else {
            return Err(error);
        }
    }
    find_deb(&dir, package)?.with_context(|| {
        format!(
            "apt-get download left no {package} package in {}",
            dir.display()
        )
    })
}

fn find_deb(dir: &Path, package: &str) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let prefix = format!("{package}_");
    let suffix = format!("_{GUEST_ARCHITECTURE}.deb");
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(&suffix) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found.pop())
}

/// Copies the kernel to `Image`, decompressing it if the package ships it gzipped, and checks
/// that it is an arm64 Image (Linux `Documentation/arch/arm64/booting.rst`: magic at 0x38).
pub fn install_kernel_image(vmlinuz: &Path, image: &Path) -> Result<()> {
    let mut bytes =
        fs::read(vmlinuz).with_context(|| format!("cannot read {}", vmlinuz.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decompressed = Vec::new();
        GzDecoder::new(&bytes[..])
            .read_to_end(&mut decompressed)
            .with_context(|| format!("cannot decompress {}", vmlinuz.display()))?;
        bytes = decompressed;
    }
    ensure!(
        bytes.get(0x38..0x3c) == Some(b"ARM\x64"),
        "{} is not an arm64 kernel Image",
        vmlinuz.display()
    );
    ensure!(
        bytes.len() as u64 <= GUEST_KERNEL_MAX_SIZE,
        "{} is {} bytes; at most {GUEST_KERNEL_MAX_SIZE} fit between the guest kernel's and the \
         initrd's load addresses (tests/src/command_line.rs)",
        vmlinuz.display(),
        bytes.len()
    );
    fs::write(image, &bytes).with_context(|| format!("cannot write {}", image.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(drop)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_package_from_apt_cache_depends() {
        let output = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-56-arm64:arm64\n";
        assert_eq!(
            parse_kernel_dependency(output).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        assert_eq!(parse_kernel_dependency("linux-image-arm64:arm64\n"), None);
    }
}

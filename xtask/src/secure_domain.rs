//! `cargo xtask build-secure-domain`: the secure domain's firmware (`images/secure-domain`) as a
//! flat arm64 Image for the hypervisor, and its `bare-qemu` test build as an ELF for bare QEMU.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::build;
use crate::deps::{self, FIRMWARE_TARGET};
use crate::layout::Layout;
use crate::process::{self, run, say};

const PACKAGE: &str = "hyp-arm-secure-domain";
/// The firmware binary target of the package.
const BINARY: &str = "secure-domain";

/// Which build of the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecureDomainBuild {
    /// For hyp-arm: linked at IPA 0x4000_0000, console through CONSOLE_WRITE hypercalls.
    Domain,
    /// For bare QEMU (`-M virt`, no hypervisor): linked at 0x4020_0000, console on the PL011.
    BareQemu,
}

/// Builds the secure domain and returns what to boot:
/// - [`SecureDomainBuild::Domain`]: `target/secure-domain/secure-domain.bin`, the raw arm64 Image
///   that the board build embeds (`HYP_ARM_IMAGE_SECURE_DOMAIN`) or a loader hands over;
/// - [`SecureDomainBuild::BareQemu`]: `target/secure-domain/secure-domain-bare.elf`, for bare
///   QEMU's `-kernel` (as an ELF, QEMU leaves its device tree at the start of RAM, below the
///   image).
///
/// The bare build has a cargo target directory of its own (`target/secure-domain-bare/`), so
/// switching between the two does not rebuild the crate every time.
pub fn build_secure_domain(layout: &Layout, which: SecureDomainBuild) -> Result<PathBuf> {
    deps::rust_tools(layout)?;
    let mut cargo = process::cargo();
    cargo.current_dir(&layout.root).args([
        "build",
        "--release",
        "--package",
        PACKAGE,
        "--bin",
        BINARY,
        "--target",
        FIRMWARE_TARGET,
    ]);
    let target_root = match which {
        SecureDomainBuild::Domain => layout.cargo_target(),
        SecureDomainBuild::BareQemu => {
            let dir = layout.target().join("secure-domain-bare");
            cargo
                .env("CARGO_TARGET_DIR", &dir)
                .args(["--features", "bare-qemu"]);
            dir
        }
    };
    say(format!("building the secure domain ({which:?})"));
    run(&mut cargo)
        .with_context(|| format!("cannot build {PACKAGE} (the compiler's messages are above)"))?;
    let elf = target_root
        .join(FIRMWARE_TARGET)
        .join("release")
        .join(BINARY);
    let out_dir = layout.target().join("secure-domain");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let objcopy = build::llvm_objcopy(layout)?;
    let output = match which {
        SecureDomainBuild::Domain => {
            let image = out_dir.join("secure-domain.bin");
            run(Command::new(&objcopy)
                .args(["--output-target", "binary"])
                .arg(&elf)
                .arg(&image))?;
            image
        }
        SecureDomainBuild::BareQemu => {
            let image = out_dir.join("secure-domain-bare.elf");
            run(Command::new(&objcopy)
                .arg("--strip-debug")
                .arg(&elf)
                .arg(&image))?;
            image
        }
    };
    let size = fs::metadata(&output)
        .with_context(|| format!("cannot read {}", output.display()))?
        .len();
    ensure!(
        size > 0,
        "{} is empty: {} has no loadable sections",
        output.display(),
        elf.display()
    );
    say(format!(
        "secure domain: {} ({size} bytes)",
        output.display()
    ));
    Ok(output)
}

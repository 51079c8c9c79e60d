//! The bare-metal EL1 test guests (`images/microbench`, `images/hostile`): built for the firmware
//! target and turned into raw arm64 Images that QEMU's guest-loader hands to hyp-arm.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::build;
use crate::deps::{self, FIRMWARE_TARGET};
use crate::layout::Layout;
use crate::process::{self, run, say};

/// The hostile test guest's package (its binary has the same name).
pub const HOSTILE_PACKAGE: &str = "hyp-arm-hostile-guest";
/// The micro-benchmark guest's package (its binary has the same name).
pub const MICROBENCH_PACKAGE: &str = "hyp-arm-microbench";

/// Builds `package` (whose binary has the same name) and returns its raw image,
/// `target/images/<name>/<name>.img`.
pub fn build(layout: &Layout, package: &str, name: &str) -> Result<PathBuf> {
    deps::rust_tools(layout)?;
    say(format!("building the bare-metal guest {package}"));
    run(process::cargo().current_dir(&layout.root).args([
        "build",
        "--release",
        "--package",
        package,
        "--target",
        FIRMWARE_TARGET,
    ]))
    .with_context(|| format!("cannot build {package} (the compiler's messages are above)"))?;
    let elf = layout
        .cargo_target()
        .join(FIRMWARE_TARGET)
        .join("release")
        .join(package);
    let image = layout
        .target()
        .join("images")
        .join(name)
        .join(format!("{name}.img"));
    if let Some(dir) = image.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    run(Command::new(build::llvm_objcopy(layout)?)
        .args(["--output-target", "binary"])
        .arg(&elf)
        .arg(&image))?;
    Ok(image)
}

/// The hostile guest, `target/images/hostile/hostile.img` (also the virtio-vsock fault injector,
/// with `vsock-faults` on its command line: tests/tests/vsock_faults.rs).
pub fn hostile(layout: &Layout) -> Result<PathBuf> {
    build(layout, HOSTILE_PACKAGE, "hostile")
}

/// The micro-benchmark guest, `target/images/microbench/microbench.img`.
pub fn microbench(layout: &Layout) -> Result<PathBuf> {
    build(layout, MICROBENCH_PACKAGE, "microbench")
}

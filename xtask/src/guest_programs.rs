//! The static aarch64 Linux programs of the guest's initramfs (`images/binder-client`,
//! `images/keystore-cli`), built
//! for musl and linked with rust-lld (`.cargo/config.toml`), so no cross C toolchain is needed.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::build;
use crate::deps::{self, GUEST_PROGRAM_TARGET};
use crate::layout::Layout;
use crate::process::{self, run, say};

/// A program: its package, its binary and where it goes in the initramfs.
pub struct GuestProgram {
    pub package: &'static str,
    pub binary: &'static str,
    /// Path inside the initramfs, without the leading `/`.
    pub installed_as: &'static str,
}

/// Every program the initramfs carries.
pub const PROGRAMS: &[GuestProgram] = &[
    GuestProgram {
        package: "hyp-arm-binder-client",
        binary: "binder-client",
        installed_as: "bin/binder-client",
    },
    GuestProgram {
        package: "hyp-arm-keystore-cli",
        binary: "keystore-cli",
        installed_as: "bin/keystore-cli",
    },
];

/// Builds every program and returns, for each, its stripped executable under
/// `target/guest/programs/` and its path in the initramfs.
pub fn build(layout: &Layout) -> Result<Vec<(PathBuf, &'static str)>> {
    deps::rust_tools(layout)?;
    let mut built = Vec::new();
    for program in PROGRAMS {
        say(format!("building the guest program {}", program.package));
        run(process::cargo().current_dir(&layout.root).args([
            "build",
            "--release",
            "--package",
            program.package,
            "--target",
            GUEST_PROGRAM_TARGET,
        ]))
        .with_context(|| {
            format!(
                "cannot build {} for {GUEST_PROGRAM_TARGET} (the compiler's messages are above)",
                program.package
            )
        })?;
        let executable = layout
            .cargo_target()
            .join(GUEST_PROGRAM_TARGET)
            .join("release")
            .join(program.binary);
        ensure!(
            executable.is_file(),
            "cargo reported success but {} does not exist",
            executable.display()
        );
        let stripped = layout.guest().join("programs").join(program.binary);
        if let Some(dir) = stripped.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // The release profile keeps debug information, which would multiply the initramfs size.
        // Stripped again only when cargo relinked, so that the initramfs stays up to date.
        if !is_newer(&stripped, &executable) {
            run(Command::new(build::llvm_objcopy(layout)?)
                .arg("--strip-all")
                .arg(&executable)
                .arg(&stripped))?;
        }
        built.push((stripped, program.installed_as));
    }
    Ok(built)
}

/// Whether `path` exists and was modified after `than`.
fn is_newer(path: &std::path::Path, than: &std::path::Path) -> bool {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified());
    matches!((modified(path), modified(than)), (Ok(a), Ok(b)) if a > b)
}

//! `cargo xtask build`: the hypervisor for one board, as the raw image that QEMU and loaders boot.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use hyp_arm_system_tests::console_decoder::{elf_of_image, ConsoleDecoder};

use crate::deps::{self, FIRMWARE_TARGET};
use crate::layout::Layout;
use crate::process::{self, output, run, say};
use crate::secure_domain::{build_secure_domain, SecureDomainBuild};
use crate::BuildOptions;

/// How the hypervisor logs (docs/LOGGING.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `[hyp] ...` text lines, readable on any serial terminal.
    Text,
    /// defmt frames among the guests' text, which `cargo xtask run` and the tests decode.
    Defmt,
}

/// Builds `boards/<board>` and returns the path of its image, `target/images/<board>/hyp-arm.img`
/// (`hyp-arm-embedded.img` with a guest built in, `...-defmt.img` with defmt logging).
///
/// Three files come out of one build: the image, which is the ELF without debug sections (for
/// QEMU's `-kernel`: QEMU then treats it as bare-metal and leaves its device tree at the start of
/// RAM, clear of guest-loader modules at RAM + 128 MiB, where it puts the tree for Linux-format
/// images); `.bin`, the raw arm64 Image with its Linux header (for U-Boot's `booti` and other
/// loaders that follow the Linux boot protocol); and `.elf`, the ELF as linked, whose defmt
/// table and debug information decode and explain what the image prints.
pub fn build(layout: &Layout, options: &BuildOptions) -> Result<PathBuf> {
    let board = &options.board;
    if !layout.board_crate(board).join("Cargo.toml").is_file() {
        bail!(
            "there is no board `{board}` (boards/{board}/Cargo.toml); boards: {}",
            boards(layout).join(", ")
        );
    }
    deps::rust_tools(layout)?;

    let package = format!("hyp-arm-board-{board}");
    let log = options.log.unwrap_or(LogFormat::Text);
    let mut cargo = process::cargo();
    let variant = variant_name(
        options.embed_kernel.is_some(),
        log,
        options.domains.as_deref(),
    );
    // The secure domain's firmware, which the board's domains.toml embeds.
    let secure_domain = build_secure_domain(layout, SecureDomainBuild::Domain)?;
    cargo.env("HYP_ARM_IMAGE_SECURE_DOMAIN", &secure_domain);
    match &options.domains {
        Some(file) => cargo.env("HYP_ARM_DOMAINS", file),
        None => cargo.env_remove("HYP_ARM_DOMAINS"),
    };
    match &options.embed_kernel {
        Some(kernel) => {
            let kernel = fs::canonicalize(kernel)
                .with_context(|| format!("no guest kernel at {}", kernel.display()))?;
            cargo.env("HYP_ARM_EMBED_KERNEL", &kernel);
            if let Some(initrd) = &options.embed_initrd {
                let initrd = fs::canonicalize(initrd)
                    .with_context(|| format!("no initramfs at {}", initrd.display()))?;
                cargo.env("HYP_ARM_EMBED_INITRD", initrd);
            }
            cargo.env("HYP_ARM_EMBED_BOOTARGS", &options.embed_bootargs);
        }
        None => {
            cargo.env_remove("HYP_ARM_EMBED_KERNEL");
        }
    }
    // Every other kind of image (guest built in, defmt logging) builds in a target directory of
    // its own, target/hyp-arm-<variant>/, so that switching between kinds does not rebuild the
    // board crate every time.
    let target_root = if variant.is_empty() {
        layout.cargo_target()
    } else {
        let dir = layout.target().join(format!("hyp-arm{variant}"));
        cargo.env("CARGO_TARGET_DIR", &dir);
        dir
    };
    cargo.current_dir(&layout.root).args([
        "build",
        "--release",
        "--package",
        &package,
        "--target",
        FIRMWARE_TARGET,
    ]);
    if log == LogFormat::Defmt {
        cargo.args(["--features", "defmt"]);
    }
    say(format!("building the hypervisor for {board}"));
    run(&mut cargo)
        .with_context(|| format!("cannot build {package} (the compiler's messages are above)"))?;

    let elf = target_root
        .join(FIRMWARE_TARGET)
        .join("release")
        .join(&package);
    ensure!(
        elf.is_file(),
        "cargo reported success but {} does not exist; is {package} a binary crate?",
        elf.display()
    );
    let image = layout
        .hypervisor_image(board)
        .with_file_name(format!("hyp-arm{variant}.img"));
    if let Some(dir) = image.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let kept_elf = elf_of_image(&image);
    fs::copy(&elf, &kept_elf)
        .with_context(|| format!("cannot copy {} to {}", elf.display(), kept_elf.display()))?;
    let objcopy = llvm_objcopy(layout)?;
    run(Command::new(&objcopy)
        .arg("--strip-debug")
        .arg(&elf)
        .arg(&image))?;
    let raw_image = image.with_extension("bin");
    run(Command::new(&objcopy)
        .args(["--output-target", "binary"])
        .arg(&elf)
        .arg(&raw_image))?;
    if log == LogFormat::Defmt {
        let decoder = ConsoleDecoder::for_image(&image)?;
        ensure!(
            decoder.table_elf().is_some(),
            "{} has no defmt table (.defmt section): was defmt.x linked?",
            kept_elf.display()
        );
    }
    let size = fs::metadata(&image)
        .with_context(|| format!("cannot read {}", image.display()))?
        .len();
    ensure!(
        size > 0,
        "{} is empty: {} has no loadable sections",
        image.display(),
        elf.display()
    );
    say(format!(
        "hypervisor image: {} ({size} bytes; raw arm64 Image: {}; ELF: {})",
        image.display(),
        raw_image.display(),
        kept_elf.display()
    ));
    Ok(image)
}

/// What tells an image's files and target directory apart: `""`, or `-pinned` for
/// domains-pinned.toml, then `-embedded` and `-defmt` when they apply.
fn variant_name(embedded_guest: bool, log: LogFormat, domains: Option<&str>) -> String {
    let mut name = String::new();
    // domains-pinned.toml -> "-pinned"
    if let Some(stem) = domains
        .and_then(|file| file.strip_suffix(".toml"))
        .and_then(|stem| stem.strip_prefix("domains"))
        .filter(|suffix| !suffix.is_empty())
    {
        name.push_str(stem);
    }
    if embedded_guest {
        name.push_str("-embedded");
    }
    if log == LogFormat::Defmt {
        name.push_str("-defmt");
    }
    name
}

/// The names of `boards/*` that are crates.
fn boards(layout: &Layout) -> Vec<String> {
    let mut boards: Vec<String> = fs::read_dir(layout.root.join("boards"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    boards.sort();
    boards
}

/// llvm-objcopy from rustup's `llvm-tools` component, which matches the compiler's LLVM.
pub(crate) fn llvm_objcopy(layout: &Layout) -> Result<PathBuf> {
    let rustc = || {
        let mut command = Command::new("rustc");
        command.current_dir(&layout.root);
        command
    };
    let sysroot = output(rustc().args(["--print", "sysroot"]))?;
    let version = output(rustc().arg("-vV"))?;
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .context("`rustc -vV` names no host triple")?;
    let objcopy = PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/llvm-objcopy");
    ensure!(
        objcopy.is_file(),
        "{} does not exist; run `rustup component add llvm-tools` (or `cargo xtask deps`)",
        objcopy.display()
    );
    Ok(objcopy)
}

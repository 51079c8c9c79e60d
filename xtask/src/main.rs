//! `cargo xtask`: the one entry point for building, running, testing and benchmarking hyp-arm.
#![forbid(unsafe_code)]

mod android_kernel;
mod bare_guest;
mod bench;
mod boot_bench;
mod build;
mod cpio;
mod deps;
mod guest_programs;
mod image;
mod initramfs;
mod kernel_config;
mod keystore_bench;
mod layout;
mod microbench;
mod process;
mod run;
mod secure_domain;
mod test;
mod xen;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hyp_arm_system_tests::GicVersion;

use crate::layout::Layout;

/// Build, run and test hyp-arm. Every verb installs or builds what it needs first.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Install what building and testing need: Rust target and tools, QEMU, dtc, and Debian's
    /// arm64 guest kernel and busybox (into target/guest/).
    Deps,
    /// Build the hypervisor image target/images/<board>/hyp-arm.img.
    Build(BuildOptions),
    /// Build the secure domain's firmware: target/secure-domain/secure-domain.bin (for the
    /// hypervisor), or with --bare-qemu target/secure-domain/secure-domain-bare.elf (for bare
    /// QEMU's -kernel, console on the PL011).
    BuildSecureDomain(SecureDomainOptions),
    /// Build the Android-style guest kernel target/android-kernel/Image from Debian's
    /// linux-source-6.1 and images/android-kernel/android.config (goldfish drivers, binderfs,
    /// virtio-vsock built in). Cached: does nothing while its inputs are unchanged.
    AndroidKernel,
    /// Pack the guest initramfs target/guest/initramfs.cpio.gz.
    Initramfs,
    /// Write what a person flashes to the board's boot medium: for U-Boot boards (qemu-virt)
    /// target/images/<board>/disk.img, a disk with hyp-arm, the guest and a boot script for
    /// U-Boot's distro boot; for the Raspberry Pi 4 (rpi4) target/images/rpi4/sd.img and the
    /// card's files in target/images/rpi4/sd/ (docs/BOARDS.md).
    Image(ImageOptions),
    /// Boot hyp-arm and its guest under QEMU with the console on this terminal (Ctrl-A x quits).
    Run(RunOptions),
    /// Run every test: host unit tests, then the QEMU system tests.
    Test(TestOptions),
    /// Measure boot time to guest userspace (hyp-arm beside bare QEMU and Xen), exit costs and the
    /// keystore (docs/BENCHMARKS.md).
    Bench(BenchOptions),
}

#[derive(clap::Args, Clone)]
struct BuildOptions {
    /// The board crate to build: boards/<board>/.
    #[arg(long, default_value = "qemu-virt")]
    board: String,
    /// Hypervisor log format: `text` lines for any serial terminal, or `defmt` records that
    /// `cargo xtask run` and `test` decode (docs/LOGGING.md). Default: `text` for `build`,
    /// `defmt` for `run`.
    #[arg(long, value_enum)]
    log: Option<build::LogFormat>,
    /// Build a guest kernel (arm64 Image) into the hypervisor; the image is then
    /// target/images/<board>/hyp-arm-embedded.img and boots with no guest-loader modules.
    #[arg(long, value_name = "IMAGE")]
    embed_kernel: Option<std::path::PathBuf>,
    /// With --embed-kernel: the initramfs to build in too.
    #[arg(long, value_name = "INITRD", requires = "embed_kernel")]
    embed_initrd: Option<std::path::PathBuf>,
    /// With --embed-kernel: the guest's command line.
    #[arg(
        long,
        value_name = "TEXT",
        requires = "embed_kernel",
        default_value = "console=ttyAMA0"
    )]
    embed_bootargs: String,
    /// The board's domain file to build from, relative to boards/<board>/ (default:
    /// domains.toml). Another file gives another image, e.g. `domains-pinned.toml` ->
    /// target/images/<board>/hyp-arm-pinned.img.
    #[arg(long, value_name = "FILE")]
    domains: Option<String>,
}

impl BuildOptions {
    /// The plain build of `board`: text logging, no guest built in.
    fn for_board(board: &str) -> BuildOptions {
        BuildOptions {
            board: board.to_string(),
            log: None,
            embed_kernel: None,
            embed_initrd: None,
            embed_bootargs: String::new(),
            domains: None,
        }
    }
}

#[derive(clap::Args)]
struct ImageOptions {
    /// The board whose boot medium to write.
    #[arg(long, default_value = "qemu-virt")]
    board: String,
}

#[derive(clap::Args)]
struct SecureDomainOptions {
    /// Build the variant that runs on bare QEMU (`-M virt`, no hypervisor) instead.
    #[arg(long)]
    bare_qemu: bool,
}

#[derive(clap::Args)]
struct RunOptions {
    #[command(flatten)]
    build: BuildOptions,
    /// GIC version of the emulated machine: 2 or 3.
    #[arg(long, default_value = "3")]
    gic: GicVersion,
    /// QEMU CPU model.
    #[arg(long, default_value = "cortex-a57")]
    cpu: String,
    /// Number of CPUs.
    #[arg(long, default_value_t = 4)]
    smp: u32,
    /// RAM size, as QEMU's -m.
    #[arg(long, default_value = "2G")]
    mem: String,
    /// Extra guest kernel arguments, e.g. `hyptest=boot` for what the system tests run.
    #[arg(long, default_value = "")]
    bootargs: String,
    /// Boot the guest kernel directly, without hyp-arm (to tell guest problems from ours).
    #[arg(long)]
    bare: bool,
}

#[derive(clap::Args)]
struct BenchOptions {
    /// Boots per configuration for the wall-clock boot times (the table shows min and median).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Run only one part: `boot` (boot time), `micro` (per-operation exit costs) or `keystore`
    /// (the keystore over vsock: instructions and requests per second).
    #[arg(long, value_parser = ["boot", "micro", "keystore"])]
    only: Option<String>,
}

#[derive(clap::Args)]
struct TestOptions {
    /// Run only the system tests whose names contain this (host unit tests always run).
    filter: Option<String>,
    /// The android domain's kernel (arm64 Image) instead of Debian's target/guest/Image, e.g.
    /// target/android-kernel/Image from `cargo xtask android-kernel`.
    #[arg(long, value_name = "IMAGE")]
    guest_kernel: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let layout = Layout::new();
    let result = match cli.verb {
        Verb::Deps => deps::install(&layout),
        Verb::Build(options) => build::build(&layout, &options).map(drop),
        Verb::BuildSecureDomain(options) => {
            let which = if options.bare_qemu {
                secure_domain::SecureDomainBuild::BareQemu
            } else {
                secure_domain::SecureDomainBuild::Domain
            };
            secure_domain::build_secure_domain(&layout, which).map(drop)
        }
        Verb::AndroidKernel => android_kernel::ensure(&layout).map(drop),
        Verb::Initramfs => initramfs::build(&layout).map(drop),
        Verb::Image(options) => image::build(&layout, &options.board).map(drop),
        Verb::Run(options) => run::run(&layout, &options),
        Verb::Test(options) => test::test(&layout, &options),
        Verb::Bench(options) => bench::bench(&layout, &options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

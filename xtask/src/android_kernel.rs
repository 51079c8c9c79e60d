//! `cargo xtask android-kernel`: the Android-style arm64 guest kernel (images/android-kernel/),
//! built from Debian's linux-source-6.1 with Debian's cross compiler, once per recipe.
//!
//! Debian's arm64 kernel has no goldfish drivers and builds binder as a module without binderfs,
//! so the Android-style guest gets its own small kernel with all of that built in. The build
//! takes minutes, so its result is filed under a key of everything it depends on
//! (kernel_config::cache_key) and redone only when that key changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::deps::{self, Apt};
use crate::kernel_config::{self, BuildInputs};
use crate::layout::Layout;
use crate::process::{find_program, output, run, say};

/// Debian's package of the kernel sources, and the tarball it installs.
const SOURCE_PACKAGE: &str = "linux-source-6.1";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";

/// Debian's arm64 cross toolchain prefix (package gcc-aarch64-linux-gnu).
const CROSS_COMPILE: &str = "aarch64-linux-gnu-";

/// The make target the fragment is applied to (with KCONFIG_ALLCONFIG): every option off unless
/// the fragment turns it on, apart from those only an expert may turn off (PRINTK, FUTEX ...).
const BASE_CONFIG: &str = "allnoconfig";

/// The fragment in images/android-kernel/.
const FRAGMENT: &str = "android.config";

/// Two jobs: the machine this runs on in CI has two cores.
const JOBS: &str = "-j2";

/// What the build needs from the host, each with the Debian package that provides it.
const BUILD_NEEDS: &[(Need, &str)] = &[
    (Need::File(SOURCE_TARBALL), SOURCE_PACKAGE),
    (
        Need::Program("aarch64-linux-gnu-gcc"),
        "gcc-aarch64-linux-gnu",
    ),
    // The kernel build's host programs (kconfig, fixdep) are compiled with the host's compiler.
    (Need::Program("gcc"), "gcc"),
    (Need::File("/usr/include/stdio.h"), "libc6-dev"),
    (Need::Program("make"), "make"),
    (Need::Program("bc"), "bc"),
    (Need::Program("bison"), "bison"),
    (Need::Program("flex"), "flex"),
    (Need::Program("xz"), "xz-utils"),
    (Need::Program("dpkg-query"), "dpkg"),
];

/// How to tell whether a package is there: one of its programs on PATH, or one of its files.
enum Need {
    Program(&'static str),
    File(&'static str),
}

impl Need {
    fn present(&self) -> bool {
        match self {
            Need::Program(program) => find_program(program).is_some(),
            Need::File(path) => Path::new(path).is_file(),
        }
    }
}

/// Builds target/android-kernel/Image unless it is already built from the same inputs; returns
/// its path. Installs the build's Debian packages first when they are missing.
pub fn ensure(layout: &Layout) -> Result<PathBuf> {
    let started = Instant::now();
    install_build_packages()?;

    let fragment_path = layout.android_kernel_recipe().join(FRAGMENT);
    let fragment = fs::read_to_string(&fragment_path)
        .with_context(|| format!("cannot read {}", fragment_path.display()))?;
    let wanted = kernel_config::settings(&fragment)
        .with_context(|| format!("{} is not a config fragment", fragment_path.display()))?;
    let source_version = output(Command::new("dpkg-query").args([
        "--show",
        "--showformat=${Version}",
        SOURCE_PACKAGE,
    ]))?;
    let compiler = output(Command::new(format!("{CROSS_COMPILE}gcc")).arg("--version"))?;
    let compiler = compiler.lines().next().unwrap_or_default();
    let recipe = format!("make ARCH=arm64 CROSS_COMPILE={CROSS_COMPILE} Image");
    let key = kernel_config::cache_key(&BuildInputs {
        fragment: fragment.as_bytes(),
        base: BASE_CONFIG,
        source_version: &source_version,
        compiler,
        recipe: &recipe,
    });

    let work = layout.android_kernel_work();
    let image = layout.android_kernel();
    let key_file = work.join("Image.key");
    if image.is_file() && fs::read_to_string(&key_file).is_ok_and(|filed| filed.trim() == key) {
        say(format!(
            "android kernel is up to date: {} ({})",
            image.display(),
            size_text(&image)
        ));
        return Ok(image);
    }

    say(format!(
        "building the Android-style kernel from {SOURCE_PACKAGE} {source_version} with \
         {compiler}; a clean build takes several minutes on two cores"
    ));
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // Until the new Image is in place, nothing may call the old one up to date.
    remove_if_present(&key_file)?;
    let source = unpack(&work, &source_version)?;
    let build = work.join("build");
    configure(&source, &build, &fragment_path, &wanted)?;
    say(format!(
        "android kernel: compiling ({JOBS}, in {})",
        build.display()
    ));
    run(make(&source, &build).arg(JOBS).arg("Image"))
        .context("the android kernel does not build")?;
    deps::install_kernel_image(&build.join("arch/arm64/boot/Image"), &image)?;
    fs::write(&key_file, format!("{key}\n"))
        .with_context(|| format!("cannot write {}", key_file.display()))?;
    say(format!(
        "android kernel built in {} s: {} ({})",
        started.elapsed().as_secs(),
        image.display(),
        size_text(&image)
    ));
    Ok(image)
}

/// Installs the packages of BUILD_NEEDS that are missing, all in one apt-get call.
fn install_build_packages() -> Result<()> {
    let missing: Vec<&str> = BUILD_NEEDS
        .iter()
        .filter(|(need, _)| !need.present())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    say(format!(
        "the android kernel build needs {}; installing with apt-get ...",
        missing.join(" ")
    ));
    Apt::new().install(&missing)?;
    if let Some((need, package)) = BUILD_NEEDS.iter().find(|(need, _)| !need.present()) {
        let what = match need {
            Need::Program(program) => format!("the program {program}"),
            Need::File(path) => format!("the file {path}"),
        };
        bail!("{package} is installed but {what} is still missing");
    }
    Ok(())
}

/// The kernel sources in `work/src`, unpacked from Debian's tarball unless they already are
/// (`work/source-version` names the package version they came from).
fn unpack(work: &Path, source_version: &str) -> Result<PathBuf> {
    let source = work.join("src");
    let stamp = work.join("source-version");
    let unpacked = fs::read_to_string(&stamp).is_ok_and(|version| version.trim() == source_version);
    if unpacked && source.join("Makefile").is_file() {
        return Ok(source);
    }
    say(format!(
        "android kernel: unpacking {SOURCE_TARBALL} into {} (about half a minute)",
        source.display()
    ));
    // Objects built from other sources must not be mixed with these.
    for stale in [&source, &work.join("build")] {
        if stale.exists() {
            fs::remove_dir_all(stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    remove_if_present(&stamp)?;
    fs::create_dir_all(&source).with_context(|| format!("cannot create {}", source.display()))?;
    run(Command::new("tar")
        .arg("--extract")
        .arg("--file")
        .arg(SOURCE_TARBALL)
        .arg("--directory")
        .arg(&source)
        .arg("--strip-components=1"))
    .with_context(|| format!("cannot unpack {SOURCE_TARBALL}; reinstall {SOURCE_PACKAGE}"))?;
    fs::write(&stamp, format!("{source_version}\n"))
        .with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(source)
}

/// `.config` from BASE_CONFIG with the fragment on top, checked against the fragment.
fn configure(
    source: &Path,
    build: &Path,
    fragment: &Path,
    wanted: &[kernel_config::Setting<'_>],
) -> Result<()> {
    say(format!(
        "android kernel: configuring ({BASE_CONFIG} + {})",
        fragment.display()
    ));
    fs::create_dir_all(build).with_context(|| format!("cannot create {}", build.display()))?;
    run(make(source, build)
        .arg(format!("KCONFIG_ALLCONFIG={}", fragment.display()))
        .arg(BASE_CONFIG))
    .context("cannot configure the android kernel")?;
    let config_path = build.join(".config");
    let config = fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let unmet = kernel_config::unmet(wanted, &config);
    if !unmet.is_empty() {
        bail!(
            "{} asks for settings the kernel's Kconfig did not take:\n  {}\n(see {} and each \
             option's `depends on` in the kernel sources)",
            fragment.display(),
            unmet.join("\n  "),
            config_path.display()
        );
    }
    Ok(())
}

/// The kernel's make, building out of tree into `build` for arm64 with Debian's cross compiler.
fn make(source: &Path, build: &Path) -> Command {
    let mut command = Command::new("make");
    command
        .arg("-C")
        .arg(source)
        .arg(format!("O={}", build.display()))
        .arg("ARCH=arm64")
        .arg(format!("CROSS_COMPILE={CROSS_COMPILE}"))
        // The same `uname -v` text on every machine.
        .arg("KBUILD_BUILD_USER=hyp-arm")
        .arg("KBUILD_BUILD_HOST=xtask")
        // A make above xtask (or cargo's jobserver) must not change how many jobs run.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    command
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// "12.3 MiB", or what went wrong reading the size.
fn size_text(path: &Path) -> String {
    match fs::metadata(path) {
        Ok(metadata) => format!("{:.1} MiB", metadata.len() as f64 / (1024.0 * 1024.0)),
        Err(error) => format!("size unknown: {error}"),
    }
}

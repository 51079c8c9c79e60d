//! Links the goldfish board's image (QEMU virt with GICv2 as the host; the guest sees the
//! Android emulator's ranchu layout) at the address every loader puts it: RAM starts at
//! 0x4000_0000 on QEMU virt and the image header asks for text_offset 0x20_0000 (QEMU's `-kernel` and U-Boot's
//! `booti` both load an arm64 Image at the 2 MiB-aligned RAM base + text_offset). With the
//! `defmt` feature it also links defmt's script, which keeps the log strings' table.
//!
//! It also embeds a guest kernel, initramfs and command line when `HYP_ARM_EMBED_KERNEL`,
//! `HYP_ARM_EMBED_INITRD` and `HYP_ARM_EMBED_BOOTARGS` name them (`cargo xtask build
//! --embed-kernel ...`), by writing `embedded_guest.rs` into OUT_DIR for `include!`.
//!
//! And it checks `domains.toml` (or the file `HYP_ARM_DOMAINS` names, relative to this folder)
//! against the reference device trees and writes `system_plan.rs` (`static SYSTEM_PLAN`); a
//! rejected file fails the build with the reasons. Embedded domain images come from
//! `HYP_ARM_IMAGE_<NAME>` (docs/DOMAINS.md).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const RAM_BASE: u64 = 0x4000_0000;
const TEXT_OFFSET: u64 = 0x20_0000;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../linker/hyp-arm.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!(
        "cargo:rustc-link-arg-bins=--defsym=HYP_LOAD_ADDRESS={:#x}",
        RAM_BASE + TEXT_OFFSET
    );
    println!("cargo:rustc-link-arg-bins=--defsym=HYP_TEXT_OFFSET={TEXT_OFFSET:#x}");
    if std::env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        // defmt's script (on the link search path, from the defmt crate's build script) collects
        // the interned log strings into the non-loaded `.defmt` section the host decodes with.
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
    write_embedded_guest();
    write_system_plan(&manifest);
}

/// `SYSTEM_PLAN` from the board's domains file, or the build fails with every rejection.
fn write_system_plan(manifest: &Path) {
    println!("cargo:rerun-if-env-changed=HYP_ARM_DOMAINS");
    let name = std::env::var("HYP_ARM_DOMAINS")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "domains.toml".to_string());
    let path = manifest.join(&name);
    println!("cargo:rerun-if-changed={}", path.display());
    // Messages name the file as a person would find it from the workspace root.
    let file = if Path::new(&name).is_absolute() {
        name.clone()
    } else {
        format!("boards/goldfish/{name}")
    };
    let loaded = hyp_arm_board_config::load(&file, &path).unwrap_or_else(|errors| fail(&errors));
    for tree in &loaded.reference_tree_files {
        println!("cargo:rerun-if-changed={}", tree.display());
    }
    for domain in &loaded.config.domains {
        let images = [
            match &domain.kernel {
                hyp_arm_board_config::schema::Kernel::Embedded(image) => Some(image),
                hyp_arm_board_config::schema::Kernel::BootModules => None,
            },
            domain.initrd.as_ref(),
        ];
        for image in images.into_iter().flatten() {
            let variable = hyp_arm_board_config::image_variable(&image.embedded);
            println!("cargo:rerun-if-env-changed={variable}");
        }
    }
    let lookup = |variable: &str| std::env::var(variable).ok();
    let images = hyp_arm_board_config::ImageSource {
        lookup: &lookup,
        base: manifest,
    };
    let generated = hyp_arm_board_config::system_plan(&file, &loaded.config, &images)
        .unwrap_or_else(|errors| fail(&errors));
    for image in &generated.images {
        println!("cargo:rerun-if-changed={}", image.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("system_plan.rs");
    std::fs::write(&out, generated.source).expect("OUT_DIR is writable");
}

/// Ends the build with the rejections, one per line (cargo shows a failed build script's stderr).
fn fail(errors: &hyp_arm_board_config::ConfigErrors) -> ! {
    eprintln!("{errors}");
    std::process::exit(1);
}

/// `EMBEDDED_GUEST: Option<EmbeddedGuest>` for the board's config, from the environment.
fn write_embedded_guest() {
    for variable in [
        "HYP_ARM_EMBED_KERNEL",
        "HYP_ARM_EMBED_INITRD",
        "HYP_ARM_EMBED_BOOTARGS",
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    let kernel = std::env::var("HYP_ARM_EMBED_KERNEL")
        .ok()
        .filter(|path| !path.is_empty());
    let initrd = std::env::var("HYP_ARM_EMBED_INITRD")
        .ok()
        .filter(|path| !path.is_empty());
    let bootargs = std::env::var("HYP_ARM_EMBED_BOOTARGS").unwrap_or_default();
    let mut code = String::from("/// The guest built into this image, if any.\n");
    match kernel {
        None => code
            .push_str("const EMBEDDED_GUEST: Option<hyp_arm::hypervisor::EmbeddedGuest> = None;\n"),
        Some(kernel) => {
            for path in [Some(&kernel), initrd.as_ref()].into_iter().flatten() {
                assert!(
                    std::path::Path::new(path).is_file(),
                    "embedded guest image {path} does not exist"
                );
                println!("cargo:rerun-if-changed={path}");
            }
            let initrd = match initrd {
                Some(path) => format!("Some(include_bytes!({path:?}))"),
                None => "None".to_string(),
            };
            let _ = writeln!(
                code,
                "const EMBEDDED_GUEST: Option<hyp_arm::hypervisor::EmbeddedGuest> = \
                 Some(hyp_arm::hypervisor::EmbeddedGuest {{ kernel: include_bytes!({kernel:?}), \
                 initrd: {initrd}, bootargs: {bootargs:?} }});"
            );
        }
    }
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("embedded_guest.rs");
    std::fs::write(&out, code).expect("OUT_DIR is writable");
}

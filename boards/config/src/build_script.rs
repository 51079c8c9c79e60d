//! What every board crate's `build.rs` does, in one call ([`board_build_script`]): link the image
//! at the address the board's loader puts it, embed a guest if `cargo xtask build --embed-kernel`
//! asks, and check `domains.toml` (or the file `HYP_ARM_DOMAINS` names, relative to the board
//! crate) against the reference device trees, writing `system_plan.rs` (`static SYSTEM_PLAN`) into
//! OUT_DIR; a rejected file fails the build with the reasons. Embedded domain images come from
//! `HYP_ARM_IMAGE_<NAME>` (docs/DOMAINS.md).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where a board's loader puts the hypervisor image.
#[derive(Clone, Copy, Debug)]
pub struct BoardLink {
    /// The board crate's folder name, `boards/<name>`, for messages.
    pub name: &'static str,
    /// The 2 MiB-aligned RAM base the loader uses.
    pub ram_base: u64,
    /// The arm64 Image header's `text_offset`: QEMU's `-kernel` and U-Boot's `booti` load the
    /// image at `ram_base + text_offset`.
    pub text_offset: u64,
}

/// The whole build script of a board crate.
pub fn board_build_script(board: BoardLink) {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../linker/hyp-arm.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!(
        "cargo:rustc-link-arg-bins=--defsym=HYP_LOAD_ADDRESS={:#x}",
        board.ram_base + board.text_offset
    );
    println!(
        "cargo:rustc-link-arg-bins=--defsym=HYP_TEXT_OFFSET={:#x}",
        board.text_offset
    );
    if std::env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        // defmt's script (on the link search path, from the defmt crate's build script) collects
        // the interned log strings into the non-loaded `.defmt` section the host decodes with.
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
    write_embedded_guest();
    write_system_plan(board.name, &manifest);
}

/// `SYSTEM_PLAN` from the board's domains file, or the build fails with every rejection.
fn write_system_plan(board: &str, manifest: &Path) {
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
        format!("boards/{board}/{name}")
    };
    let loaded = crate::load(&file, &path).unwrap_or_else(|errors| fail(&errors));
    for tree in &loaded.reference_tree_files {
        println!("cargo:rerun-if-changed={}", tree.display());
    }
    for domain in &loaded.config.domains {
        let images = [
            match &domain.kernel {
                crate::schema::Kernel::Embedded(image) => Some(image),
                crate::schema::Kernel::BootModules => None,
            },
            domain.initrd.as_ref(),
        ];
        for image in images.into_iter().flatten() {
            let variable = crate::image_variable(&image.embedded);
            println!("cargo:rerun-if-env-changed={variable}");
        }
    }
    let lookup = |variable: &str| std::env::var(variable).ok();
    let images = crate::ImageSource {
        lookup: &lookup,
        base: manifest,
    };
    let generated =
        crate::system_plan(&file, &loaded.config, &images).unwrap_or_else(|errors| fail(&errors));
    for image in &generated.images {
        println!("cargo:rerun-if-changed={}", image.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("system_plan.rs");
    std::fs::write(&out, generated.source).expect("OUT_DIR is writable");
}

/// Ends the build with the rejections, one per line (cargo shows a failed build script's stderr).
fn fail(errors: &crate::ConfigErrors) -> ! {
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

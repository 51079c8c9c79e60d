//! Links the qemu-virt image at the address every loader puts it: RAM starts at 0x4000_0000 on
//! QEMU virt and the image header asks for text_offset 0x20_0000 (QEMU's `-kernel` and U-Boot's
//! `booti` both load an arm64 Image at the 2 MiB-aligned RAM base + text_offset).
use std::path::PathBuf;

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
}

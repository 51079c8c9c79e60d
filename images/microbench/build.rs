//! Links the micro-benchmark with its own script, as a position-independent executable: the same
//! raw image then runs wherever a loader puts it (bare QEMU's RAM starts at 0x4000_0000, a guest's
//! under hyp-arm at 0x8000_0000), and the script refuses any absolute address that would need
//! relocating.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../linker/bare-guest.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rustc-link-arg-bins=--pie");
}

//! Links the hostile guest with the bare-metal guests' script as a position-independent
//! executable, so the same raw image runs wherever hyp-arm places its RAM.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../linker/bare-guest.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rustc-link-arg-bins=--pie");
}

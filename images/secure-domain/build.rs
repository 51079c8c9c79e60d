//! Links the firmware with `linker/secure-domain.ld`. The `bare-qemu` variant is linked 2 MiB
//! higher (the script reads the symbol defined here), above the device tree that bare QEMU puts
//! at the start of RAM.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../linker/secure-domain.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    if std::env::var_os("CARGO_FEATURE_BARE_QEMU").is_some() {
        println!("cargo:rustc-link-arg-bins=--defsym=SECURE_DOMAIN_BARE_QEMU=1");
    }
}

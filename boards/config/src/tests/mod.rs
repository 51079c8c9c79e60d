//! Host tests: one per rejection, each asserting the message, plus the qemu-virt files and the
//! generated source.
#![forbid(unsafe_code)]

mod channels;
mod devices;
mod domains;
mod generate;
mod parse;
mod rpi4;
mod virtual_devices;

use crate::{check, parse, ReferenceTree};

const VIRT_GICV3: &[u8] = include_bytes!("../../../qemu-virt/reference/virt-gicv3.dtb");
const VIRT_GICV2: &[u8] = include_bytes!("../../../qemu-virt/reference/virt-gicv2.dtb");
/// hyp-arm/testdata/dtb/ownership.dts: uart@9000000 (console), rtc@9010000, two `test,sensor`
/// sharing SPI 37, disabled@9040000, broken@9050000 (malformed `interrupts`), dual@9060000.
const OWNERSHIP: &[u8] = include_bytes!("../../../../hyp-arm/testdata/dtb/ownership.dtb");

/// The qemu-virt default, shortened: the base every test edits.
const BASE: &str = r#"
[board]
name = "qemu-virt"
max_cpus = 8
reference_device_trees = ["virt-gicv3.dtb", "virt-gicv2.dtb"]
scheduling = "pinned"

[console]
escape = 0x1d
initial_focus = "android"

[[domain]]
name = "secure"
role = "secure"
vcpus = [3]
priority = 10
memory = { size = "16M", ipa = 0x4000_0000 }
kernel = { embedded = "secure-domain" }
devices = [{ path = "/pl031@9010000" }]
console = "hypercall"
on_system_off = "stop-domain"

[[domain]]
name = "android"
role = "rich"
vcpus = [0, 1, 2]
memory = { size = "1G" }
kernel = "boot-modules"
owns_unclaimed_devices = true
console = "emulated-uart"
starts_after = "secure"
on_system_off = "power-off-machine"
"#;

/// `BASE` with each `(from, to)` replaced once (each `from` must be there: a test that edits
/// nothing would test nothing).
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "BASE has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

fn virt_trees() -> Vec<ReferenceTree> {
    vec![
        ReferenceTree {
            name: "virt-gicv3.dtb".into(),
            blob: VIRT_GICV3.to_vec(),
        },
        ReferenceTree {
            name: "virt-gicv2.dtb".into(),
            blob: VIRT_GICV2.to_vec(),
        },
    ]
}

fn ownership_tree() -> Vec<ReferenceTree> {
    vec![ReferenceTree {
        name: "ownership.dtb".into(),
        blob: OWNERSHIP.to_vec(),
    }]
}

/// All messages for `text` checked against `trees` (empty when accepted).
fn messages_with(text: &str, trees: &[ReferenceTree]) -> Vec<String> {
    let config = match parse("domains.toml", text) {
        Ok(config) => config,
        Err(errors) => return errors.0.iter().map(ToString::to_string).collect(),
    };
    match check("domains.toml", &config, trees) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn messages(text: &str) -> Vec<String> {
    messages_with(text, &virt_trees())
}

/// Asserts that `text` is rejected with exactly `expected` (one message).
#[track_caller]
fn assert_rejected(text: &str, expected: &str) {
    assert_eq!(messages(text), [expected]);
}

#[test]
fn the_base_is_accepted() {
    assert_eq!(messages(BASE), Vec::<String>::new());
}

#[test]
fn the_qemu_virt_files_are_accepted() {
    for file in ["domains.toml", "domains-pinned.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../qemu-virt")
            .join(file);
        if let Err(errors) = crate::load(file, &path) {
            panic!("{errors}");
        }
    }
}

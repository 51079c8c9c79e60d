//! Rejections of `[[virtual_device]]` tables, and the goldfish board's devices accepted.
#![forbid(unsafe_code)]

use super::*;

/// A goldfish battery for android where the goldfish board puts it.
const BATTERY: &str = r#"
[[virtual_device]]
name = "battery"
domain = "android"
compatible = "google,goldfish-battery"
address = 0x090c_0000
size = "4K"
interrupt = 42
"#;

fn with_battery(edits: &[(&str, &str)]) -> String {
    let mut device = BATTERY.to_string();
    for (from, to) in edits {
        assert!(device.contains(from), "the device has no `{from}`");
        device = device.replacen(from, to, 1);
    }
    format!("{BASE}{device}")
}

#[test]
fn a_well_placed_virtual_device_is_accepted() {
    assert_eq!(messages(&with_battery(&[])), Vec::<String>::new());
}

#[test]
fn a_virtual_device_for_an_unknown_domain() {
    assert_rejected(
        &with_battery(&[("domain = \"android\"", "domain = \"phone\"")]),
        "domains.toml: virtual_device[0].domain: `phone` names no [[domain]]",
    );
}

#[test]
fn a_virtual_device_on_a_real_device() {
    assert_rejected(
        &with_battery(&[("address = 0x090c_0000", "address = 0x0902_0000")]),
        "domains.toml: virtual_device[0].address: 0x9020000+0x1000 overlaps the registers of \
         /fw-cfg@9020000 in virt-gicv3.dtb",
    );
}

#[test]
fn a_virtual_device_in_ram() {
    assert_rejected(
        &with_battery(&[("address = 0x090c_0000", "address = 0x4800_0000")]),
        "domains.toml: virtual_device[0].address: 0x48000000+0x1000 overlaps RAM \
         0x40000000+0x80000000 in virt-gicv3.dtb",
    );
}

#[test]
fn a_virtual_device_on_a_real_interrupt() {
    assert_rejected(
        &with_battery(&[("interrupt = 42", "interrupt = 33")]),
        "domains.toml: virtual_device[0].interrupt: INTID 33 is already raised by \
         /pl011@9000000 in virt-gicv3.dtb",
    );
}

#[test]
fn a_virtual_device_that_is_not_page_aligned_or_not_an_spi() {
    assert_eq!(
        messages(&with_battery(&[
            ("address = 0x090c_0000", "address = 0x090c_0100"),
            ("interrupt = 42", "interrupt = 27"),
        ])),
        [
            "domains.toml: virtual_device[0].address: 0x90c0100 is not a non-zero multiple of \
             0x1000 (stage-2 pages)",
            "domains.toml: virtual_device[0].interrupt: INTID 27 is not an SPI (32 to 1019)",
        ]
    );
}

#[test]
fn two_virtual_devices_in_one_place() {
    let twice = format!(
        "{}{}",
        with_battery(&[]),
        BATTERY.replace("\"battery\"", "\"keypad\"")
    );
    assert_eq!(
        messages(&twice),
        [
            "domains.toml: virtual_device[1].address: 0x90c0000+0x1000 overlaps virtual device \
             `battery`",
            "domains.toml: virtual_device[1].interrupt: INTID 42 is also virtual device `battery`'s",
        ]
    );
}

#[test]
fn a_name_declared_twice() {
    let twice = format!(
        "{}{}",
        with_battery(&[]),
        BATTERY
            .replace("0x090c_0000", "0x090d_0000")
            .replace("= 42", "= 43")
    );
    assert_rejected(
        &twice,
        "domains.toml: virtual_device[1].name: `battery` is declared twice",
    );
}

#[test]
fn the_generated_plan_carries_virtual_devices() {
    let config = parse("domains.toml", &with_battery(&[])).unwrap();
    let lookup = |_: &str| Some("/dev/null".to_string());
    let images = crate::ImageSource {
        lookup: &lookup,
        base: std::path::Path::new("/"),
    };
    let generated = crate::system_plan("domains.toml", &config, &images).unwrap();
    assert!(
        generated.source.contains(
            "VirtualDevicePlan { name: \"battery\", domain: \"android\", compatible: \
             \"google,goldfish-battery\", address: 0x90c0000, size: 0x1000, interrupt: 42 }"
        ),
        "{}",
        generated.source
    );
}

//! Rejections against reference device trees: claims, owners, interrupts, console UART, memory.
#![forbid(unsafe_code)]

use super::*;

#[test]
fn a_path_claim_that_does_not_exist() {
    assert_rejected(
        &edited(&[("/pl031@9010000", "/pl031@9020000")]),
        "domains.toml: domain[0].devices[0]: path = \"/pl031@9020000\" does not exist on the \
         board: no enabled device node matches it in virt-gicv3.dtb",
    );
}

#[test]
fn a_compatible_claim_that_matches_nothing() {
    assert_rejected(
        &edited(&[(
            "{ path = \"/pl031@9010000\" }",
            "{ compatible = \"arm,sp805\" }",
        )]),
        "domains.toml: domain[0].devices[0]: compatible = \"arm,sp805\" does not exist on the \
         board: no enabled device node matches it in virt-gicv3.dtb",
    );
}

#[test]
fn a_claim_of_a_disabled_device() {
    let text = edited(&[("/pl031@9010000", "/disabled@9040000")]);
    assert_eq!(
        messages_with(&text, &ownership_tree()),
        [
            "domains.toml: domain[0].devices[0]: path = \"/disabled@9040000\" does not exist on \
          the board: no enabled device node matches it in ownership.dtb"
        ]
    );
}

#[test]
fn a_claim_with_both_or_neither_key() {
    assert_rejected(
        &edited(&[(
            "{ path = \"/pl031@9010000\" }",
            "{ path = \"/pl031@9010000\", compatible = \"arm,pl031\" }",
        )]),
        "domains.toml: domain[0].devices[0]: a device claim has exactly one of `path` or \
         `compatible`",
    );
    assert_rejected(
        &edited(&[("{ path = \"/pl031@9010000\" }", "{}")]),
        "domains.toml: domain[0].devices[0]: a device claim has exactly one of `path` or \
         `compatible`",
    );
}

#[test]
fn a_claim_of_a_pci_host_bridge() {
    assert_rejected(
        &edited(&[("/pl031@9010000", "/pcie@10000000")]),
        "domains.toml: domain[0].devices[0]: /pcie@10000000 is a PCI host bridge in \
         virt-gicv3.dtb; hyp-arm cannot give those to a domain",
    );
}

#[test]
fn a_claim_of_a_malformed_device() {
    let text = edited(&[("/pl031@9010000", "/broken@9050000")]);
    let all = messages_with(&text, &ownership_tree());
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].starts_with(
            "domains.toml: domain[0].devices[0]: the claimed device is malformed in \
             ownership.dtb: /broken@9050000: "
        ),
        "{all:?}"
    );
}

#[test]
fn a_device_claimed_by_two_domains() {
    assert_rejected(
        &edited(&[(
            "owns_unclaimed_devices = true",
            "owns_unclaimed_devices = true\ndevices = [{ compatible = \"arm,primecell\" }]",
        )]),
        "domains.toml: domain[1].devices[0]: /pl031@9010000 (in virt-gicv3.dtb) is already \
         claimed by domain[0].devices[0] of domain \"secure\"; a device has one owner: remove \
         one of the claims",
    );
}

#[test]
fn an_interrupt_shared_between_owners() {
    // The secure domain takes one sensor; the other goes to android as an unclaimed device.
    let text = edited(&[("/pl031@9010000", "/sensor@9030000")]);
    assert_eq!(
        messages_with(&text, &ownership_tree()),
        [
            "domains.toml: domain[1].owns_unclaimed_devices: SPI 37 is raised by /sensor@9030000 \
          (domain \"secure\") and /sensor@9020000 (domain \"android\") in ownership.dtb; an \
          interrupt has one owner: give both devices to one domain"
        ]
    );
    // Both sensors in one domain share nothing with another.
    let text = edited(&[(
        "{ path = \"/pl031@9010000\" }",
        "{ compatible = \"test,sensor\" }",
    )]);
    assert_eq!(
        messages_with(&text, &ownership_tree()),
        Vec::<String>::new()
    );
}

#[test]
fn an_emulated_uart_without_the_console_uart() {
    assert_rejected(
        &edited(&[(
            "{ path = \"/pl031@9010000\" }",
            "{ compatible = \"arm,pl011\" }",
        )]),
        "domains.toml: domain[1].console: console = \"emulated-uart\" needs the console UART \
         /pl011@9000000 (/chosen/stdout-path of virt-gicv3.dtb), but domain \"secure\" owns it",
    );
    assert_rejected(
        &edited(&[("owns_unclaimed_devices = true\n", "")]),
        "domains.toml: domain[1].console: console = \"emulated-uart\" needs the console UART \
         /pl011@9000000 (/chosen/stdout-path of virt-gicv3.dtb), but the domain does not own it",
    );
}

#[test]
fn guest_memory_over_an_owned_device() {
    assert_rejected(
        &edited(&[("ipa = 0x4000_0000", "ipa = 0x0900_0000")]),
        "domains.toml: domain[0].memory.ipa: guest memory overlaps the domain's own device \
         /pl031@9010000 at [0x9010000, 0x9011000) (in virt-gicv3.dtb); move the RAM (ipa) \
         elsewhere",
    );
}

#[test]
fn fixed_physical_memory_outside_ram() {
    assert_rejected(
        &edited(&[(
            "ipa = 0x4000_0000",
            "ipa = 0x4000_0000, physical = 0x2000_0000",
        )]),
        "domains.toml: domain[0].memory.physical: physical memory [0x20000000, 0x21000000) is \
         not RAM of virt-gicv3.dtb",
    );
}

#[test]
fn an_unusable_reference_tree() {
    let trees = [ReferenceTree {
        name: "empty.dtb".into(),
        blob: vec![0; 16],
    }];
    let all = messages_with(BASE, &trees);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].starts_with(
            "domains.toml: board.reference_device_trees: reference device tree empty.dtb is \
             unusable: "
        ),
        "{all:?}"
    );
}

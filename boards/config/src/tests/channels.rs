//! Rejections of `[[channel]]` tables, and a channel that is accepted.
#![forbid(unsafe_code)]

use super::*;

/// The qemu-virt vsock channel between `BASE`'s two domains.
const CHANNEL: &str = r#"
[[channel]]
name = "keystore"
kind = "virtio-vsock"
frontend = "android"
backend = "secure"
frontend_address = 0x0b20_0000
frontend_interrupt = 90
backend_address = 0x4100_0000
backend_interrupt = 91
size = "64K"
frontend_cid = 42
backend_cid = 3
"#;

fn with_channel(edits: &[(&str, &str)]) -> String {
    let mut channel = CHANNEL.to_string();
    for (from, to) in edits {
        assert!(channel.contains(from), "the channel has no `{from}`");
        channel = channel.replacen(from, to, 1);
    }
    format!("{BASE}{channel}")
}

#[test]
fn a_well_placed_channel_is_accepted() {
    assert_eq!(messages(&with_channel(&[])), Vec::<String>::new());
}

#[test]
fn a_channel_to_an_unknown_domain() {
    assert_rejected(
        &with_channel(&[("backend = \"secure\"", "backend = \"tee\"")]),
        "domains.toml: channel[0].backend: `tee` names no [[domain]]",
    );
}

#[test]
fn a_channel_from_a_domain_to_itself() {
    assert_rejected(
        &with_channel(&[("frontend = \"android\"", "frontend = \"secure\"")]),
        "domains.toml: channel[0].backend: `secure` is also the frontend: a channel joins two domains",
    );
}

#[test]
fn a_ring_inside_the_backends_ram() {
    assert_rejected(
        &with_channel(&[(
            "backend_address = 0x4100_0000",
            "backend_address = 0x4080_0000",
        )]),
        "domains.toml: channel[0].backend_address: the ring 0x40800000+0x10000 overlaps secure's \
         RAM 0x40000000+0x1000000",
    );
}

#[test]
fn an_interrupt_a_device_already_raises() {
    // INTID 33 is the PL011's (SPI 1) on QEMU virt.
    assert_rejected(
        &with_channel(&[("frontend_interrupt = 90", "frontend_interrupt = 33")]),
        "domains.toml: channel[0].frontend_interrupt: INTID 33 is already raised by /pl011@9000000 \
         in virt-gicv3.dtb",
    );
}

#[test]
fn a_frame_on_top_of_a_device() {
    assert_rejected(
        &with_channel(&[(
            "frontend_address = 0x0b20_0000",
            "frontend_address = 0x0901_0000",
        )]),
        "domains.toml: channel[0].frontend_address: 0x9010000+0x1000 overlaps the registers of \
         /pl031@9010000 in virt-gicv3.dtb",
    );
}

#[test]
fn misaligned_addresses_small_rings_and_reserved_cids() {
    let all = messages(&with_channel(&[
        (
            "frontend_address = 0x0b20_0000",
            "frontend_address = 0x0b20_0100",
        ),
        ("size = \"64K\"", "size = \"8K\""),
        ("frontend_cid = 42", "frontend_cid = 2"),
        ("backend_interrupt = 91", "backend_interrupt = 27"),
    ]));
    assert_eq!(
        all,
        [
            "domains.toml: channel[0].frontend_address: 0xb200100 is not a multiple of 0x1000 (stage-2 pages)",
            "domains.toml: channel[0].size: 0x2000 bytes cannot hold the ring header and two rings; at least 0x4000",
            "domains.toml: channel[0].backend_interrupt: INTID 27 is not an SPI (32 to 1019)",
            "domains.toml: channel[0].backend_cid: CIDs 2 and 3 must differ and be at least 3 (0-2 are reserved)",
        ]
    );
}

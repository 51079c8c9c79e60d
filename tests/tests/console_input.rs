//! The shared console's input side: bytes typed on the serial port reach the focused domain
//! (android, through its emulated PL011 and the console's virtual interrupt), and the escape
//! sequences of docs/DOMAINS.md and the README move (or refuse to move) the focus.

use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, ECHO, ECHO_READY, STEP_TIMEOUT};
use hyp_arm_system_tests::{BootConfig, Failure, GicVersion, Mode, Qemu};

/// Ctrl-], the console's escape byte (boards/qemu-virt/domains.toml).
const ESCAPE: u8 = 0x1d;

fn typed_line_reaches_android(gic_version: GicVersion) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        smp: 1,
        bootargs_extra: Mode::Echo.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(&format!("[android] {ECHO_READY}"), BOOT_TIMEOUT)?;
    // Domain 1 of domains.toml is the secure domain, which has no UART: the focus stays.
    qemu.send(&[ESCAPE, b'1'])?;
    qemu.wait_for("[hyp] console input: no domain 1 takes input", STEP_TIMEOUT)?;
    // The next domain that takes input: android is the only one, so it keeps the focus.
    qemu.send(&[ESCAPE, b'n'])?;
    qemu.wait_for("[hyp] console input: android", STEP_TIMEOUT)?;
    qemu.send(b"typed on the host\n")?;
    let line = qemu.wait_for_line(&format!("[android] {ECHO}"), STEP_TIMEOUT)?;
    if line != "typed on the host" {
        return Err(qemu.failure(format!(
            "android read `{line}`, not the line typed (the escape sequences must not leak)"
        )));
    }
    guest::check_powered_off(&mut qemu)
}

#[test]
fn gic3_typed_line_reaches_android() -> Result<(), Failure> {
    typed_line_reaches_android(GicVersion::V3)
}

#[test]
fn gic2_typed_line_reaches_android() -> Result<(), Failure> {
    typed_line_reaches_android(GicVersion::V2)
}

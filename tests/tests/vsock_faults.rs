//! The fault-injecting virtio-vsock driver (`images/hostile` with `vsock-faults`) in the android
//! slot, beside the secure domain sharing its CPU: it feeds hyp-arm's virtio-vsock device the
//! malformed virtqueues and packets Linux userspace cannot produce (docs/CHANNELS.md,
//! "Fault-injection guest"). Every malformed queue must put the device into
//! DEVICE_NEEDS_RESET, every malformed packet must be dropped (and answered with an RST where one
//! is due), hyp-arm must log each against the android domain without panicking, and afterwards
//! the keystore must still answer a well-formed request and the secure domain keep beating.
//!
//! Needs `HYP_ARM_HOSTILE_GUEST` (the raw image `cargo xtask test` builds) besides the usual
//! `HYP_ARM_IMAGE` and `HYP_ARM_LOG_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use hyp_arm_system_tests::{bare_guest, secure, Failure, GicVersion, Qemu};

/// The guest's whole run takes about a second of guest time; allow for a busy host.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// What hyp-arm logs against the faulting domain.
const ANDROID_LOG: &str = "[hyp] android: ";

/// Each case: its name, the rest of its `VSOCK-FAULT` line, and what hyp-arm's log line about it
/// contains (the error texts of `hyp-arm/src/channel/virtqueue.rs` and `vsock/header.rs`).
const CASES: &[(&str, &str, &str)] = &[
    (
        "queue-size",
        "needs-reset=yes",
        "queue size 3 is not a power of two",
    ),
    (
        "misaligned-descriptor-table",
        "needs-reset=yes",
        "is misaligned",
    ),
    (
        "available-ring-outside-ram",
        "needs-reset=yes",
        "available ring: 2 bytes at",
    ),
    (
        "descriptor-outside-ram",
        "needs-reset=yes",
        "descriptor 0: buffer of 48 bytes at",
    ),
    (
        "descriptor-below-ram",
        "needs-reset=yes",
        "buffer of 64 bytes at 0x1000 is outside",
    ),
    (
        "length-past-ram",
        "needs-reset=yes",
        "descriptor 0: buffer of 4096 bytes at",
    ),
    (
        "address-wraps",
        "needs-reset=yes",
        "buffer of 512 bytes at 0xffffffffffffff00",
    ),
    (
        "chain-loop",
        "needs-reset=yes",
        "chain from descriptor 0 loops back to descriptor 0",
    ),
    (
        "next-out-of-range",
        "needs-reset=yes",
        "descriptor 0 chains to 19, beyond the queue size 16",
    ),
    (
        "head-out-of-range",
        "needs-reset=yes",
        "available ring names descriptor 16",
    ),
    (
        "available-index-jump",
        "needs-reset=yes",
        "available index jumped from 0 to 17",
    ),
    (
        "indirect-descriptor",
        "needs-reset=yes",
        "descriptor 0 is indirect",
    ),
    (
        "writable-before-readable",
        "needs-reset=yes",
        "descriptor 1 is device-readable but follows",
    ),
    (
        "wrong-source-cid",
        "reply=none expected=none healthy=yes",
        "claims source CID 43",
    ),
    (
        "wrong-destination-cid",
        "reply=rst expected=rst healthy=yes",
        "is addressed to CID 99",
    ),
    (
        "unknown-type",
        "reply=rst expected=rst healthy=yes",
        "has type 2, not stream",
    ),
    (
        "unknown-operation",
        "reply=rst expected=rst healthy=yes",
        "has unknown operation 99",
    ),
    (
        "length-above-buffer",
        "reply=rst expected=rst healthy=yes",
        "says 100 payload bytes but has 20",
    ),
    (
        "length-below-buffer",
        "reply=rst expected=rst healthy=yes",
        "says 8 payload bytes but has 20",
    ),
    (
        "oversized-payload",
        "reply=rst expected=rst healthy=yes",
        "carries 4100 bytes, more than 4096",
    ),
    (
        "shorter-than-header",
        "reply=none expected=none healthy=yes",
        "of 20 bytes is shorter than its 44-byte header",
    ),
    (
        "reset-to-wrong-destination",
        "reply=none expected=none healthy=yes",
        "is addressed to CID 98",
    ),
];

fn hostile_guest() -> PathBuf {
    bare_guest::image("HYP_ARM_HOSTILE_GUEST")
}

fn faults_are_refused(gic_version: GicVersion) -> Result<(), Failure> {
    let command = bare_guest::command(gic_version, 1, &hostile_guest(), "vsock-faults");
    let mut qemu = Qemu::spawn(command);
    qemu.add_failure_pattern("VSOCK-FAULT-FAIL");
    qemu.wait_for(secure::UP, RUN_TIMEOUT)?;
    qemu.wait_for("VSOCK-FAULTS-SUMMARY ", RUN_TIMEOUT)?;
    // The secure domain may interrupt the guest's last line; by its next heartbeat the guest
    // has long finished it.
    let after = secure::next_heartbeat(&mut qemu)?;
    let android = android_lines(&qemu.output());
    let summary = find(&android, "VSOCK-FAULTS-SUMMARY ")
        .ok_or_else(|| qemu.failure("the summary line did not end"))?;
    let expected_summary = format!("cases={} refused={} answered=yes", CASES.len(), CASES.len());
    if summary != expected_summary {
        return Err(qemu.failure(format!(
            "summary `{summary}`, expected `{expected_summary}`"
        )));
    }
    check_cases(&qemu, &android)?;
    let key = find(&android, "VSOCK-KEYSTORE status=0 public-key=")
        .ok_or_else(|| qemu.failure("the keystore's answer was not printed"))?;
    if key.len() != 64 || !key.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(qemu.failure(format!("not a 32-byte public key: `{key}`")));
    }
    // The guest now idles; the secure domain, sharing its CPU, must still be beating.
    secure::check_heartbeats_continue(&mut qemu, after, 2)?;
    secure::check_started_once(&qemu)?;
    Ok(())
}

/// The android domain's lines (the runner has already joined those the secure domain's output
/// cut, tests/src/line_joiner.rs).
fn android_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("[android] "))
        .map(str::to_string)
        .collect()
}

/// The rest of the first line that starts with `prefix`.
fn find<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

/// Every case printed as expected, and hyp-arm logged each against the android domain.
fn check_cases(qemu: &Qemu, android: &[String]) -> Result<(), Failure> {
    let output = qemu.output();
    for (name, outcome, log) in CASES {
        let line = format!("VSOCK-FAULT {name} {outcome}");
        if !android.contains(&line) {
            return Err(qemu.failure(format!("no line `{line}`")));
        }
        let logged = output
            .lines()
            .any(|printed| printed.starts_with(ANDROID_LOG) && printed.contains(log));
        if !logged {
            return Err(qemu.failure(format!(
                "hyp-arm did not log case {name} against android (`{log}`)"
            )));
        }
    }
    Ok(())
}

#[test]
fn vsock_faults_are_refused_on_gicv2() -> Result<(), Failure> {
    faults_are_refused(GicVersion::V2)
}

#[test]
fn vsock_faults_are_refused_on_gicv3() -> Result<(), Failure> {
    faults_are_refused(GicVersion::V3)
}

//! The secure domain's firmware on bare QEMU (`-M virt`, EL1, no hypervisor), in its `bare-qemu`
//! build (`cargo xtask build-secure-domain --bare-qemu`; console on the PL011): it comes up,
//! reads the RTC and takes its virtual timer interrupt every second through GICv2 and GICv3.
//! A failure here points at the firmware, not at the hypervisor.

use std::env;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hyp_arm_system_tests::{Failure, Qemu, QEMU};

/// From power-on to the banner; the firmware needs a fraction of a second, TCG on a busy host more.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between heartbeats, which are a second apart.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEATS: u64 = 3;
/// A PL031 that QEMU set from the host clock reads after 2020-09-13.
const PLAUSIBLE_RTC: u64 = 1_600_000_000;

const BANNER: &str = "secure-domain: up, RTC ";
const HEARTBEAT: &str = "secure-domain: heartbeat ";

fn bare_firmware() -> PathBuf {
    let Some(image) = env::var_os("HYP_ARM_SECURE_DOMAIN_BARE").map(PathBuf::from) else {
        panic!(
            "HYP_ARM_SECURE_DOMAIN_BARE is not set: run the system tests through `cargo xtask test`"
        );
    };
    image
}

/// `<n> uptime <ms> ms rtc <seconds>`, the rest of a heartbeat line.
fn parse_heartbeat(rest: &str) -> Option<(u64, u64, u64)> {
    let fields: Vec<&str> = rest.split_whitespace().collect();
    match fields.as_slice() {
        [beat, "uptime", uptime, "ms", "rtc", rtc] => {
            Some((beat.parse().ok()?, uptime.parse().ok()?, rtc.parse().ok()?))
        }
        _ => None,
    }
}

fn heartbeats_arrive(gic_version: u8) -> Result<(), Failure> {
    let mut command = Command::new(QEMU);
    command
        .args(["-M", &format!("virt,gic-version={gic_version}")])
        .args(["-cpu", "cortex-a57", "-smp", "1", "-m", "1G"])
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .arg("-kernel")
        .arg(bare_firmware());
    let mut qemu = Qemu::spawn(command);
    for pattern in [
        "secure-domain: cannot start",
        "secure-domain: unexpected exception",
        "secure-domain: panic",
    ] {
        qemu.add_failure_pattern(pattern);
    }
    let banner = qemu.wait_for_line(BANNER, START_TIMEOUT)?;
    let (start_rtc, rest) = banner
        .split_once(',')
        .ok_or_else(|| qemu.failure(format!("banner `{banner}` has no `,` after the RTC")))?;
    let start_rtc: u64 = start_rtc
        .parse()
        .map_err(|_| qemu.failure(format!("banner `{banner}` gives no RTC seconds")))?;
    if start_rtc < PLAUSIBLE_RTC {
        return Err(qemu.failure(format!("the RTC reads {start_rtc}, before 2020")));
    }
    if !rest.starts_with(&format!(" GICv{gic_version},")) {
        return Err(qemu.failure(format!("banner `{banner}` does not name GICv{gic_version}")));
    }
    let mut last_rtc = start_rtc;
    for expected in 1..=HEARTBEATS {
        let line = qemu.wait_for_line(HEARTBEAT, HEARTBEAT_TIMEOUT)?;
        let Some((beat, uptime, rtc)) = parse_heartbeat(&line) else {
            return Err(qemu.failure(format!("cannot read heartbeat `{line}`")));
        };
        if beat != expected {
            return Err(qemu.failure(format!("heartbeat {beat} where {expected} was due")));
        }
        // The n-th deadline is n seconds after the timer was armed, after the firmware started.
        if uptime < 1000 * beat {
            return Err(qemu.failure(format!(
                "heartbeat {beat} reports {uptime} ms of uptime, less than {beat} s"
            )));
        }
        if rtc < last_rtc {
            return Err(qemu.failure(format!("the RTC went back from {last_rtc} to {rtc}")));
        }
        last_rtc = rtc;
    }
    Ok(())
}

#[test]
fn heartbeats_on_gicv2() -> Result<(), Failure> {
    heartbeats_arrive(2)
}

#[test]
fn heartbeats_on_gicv3() -> Result<(), Failure> {
    heartbeats_arrive(3)
}

#[test]
fn heartbeat_lines_are_read() {
    assert_eq!(
        parse_heartbeat("12 uptime 12004 ms rtc 1795277082"),
        Some((12, 12004, 1_795_277_082))
    );
    assert_eq!(parse_heartbeat("12 uptime 12004 ms rtc none"), None);
    assert_eq!(parse_heartbeat("12 uptime 12004 ms"), None);
}

//! The hostile guest (`images/hostile`) in the android slot, beside the secure domain sharing its
//! CPU: it reads every page of the low 4 GiB outside its own RAM and devices (the secure
//! domain's RAM, the hypervisor, the RTC, unassigned MMIO), programs interrupts it does not own
//! (the RTC's among them), sends SGIs to vCPUs it does not have and makes hypercalls with bad
//! arguments. Nothing may leak, it must have tried enough that an empty run cannot pass, hyp-arm
//! must log the offender, and the secure domain's heartbeat must go on afterwards.
//!
//! Needs `HYP_ARM_HOSTILE_GUEST` (the raw image `cargo xtask test` builds) besides the usual
//! `HYP_ARM_IMAGE` and `HYP_ARM_LOG_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use hyp_arm_system_tests::{bare_guest, secure, Failure, GicVersion, Qemu};

/// QEMU virt's low MMIO window and all host RAM (`-m 2G`): the guest skips its own RAM, so this
/// covers the hypervisor, the boot modules and the secure domain's 16 MiB at the top.
const PROBE_RANGES: &str = "probe=0x0-0x40000000,0x40000000-0xc0000000";
/// At least every page of the two ranges less the guest's devices (the flash banks and PCI
/// windows, about 0.2 Mi pages), plus the GIC and hypercall checks: a run that probes less
/// has skipped something.
const MINIMUM_TRIED: u64 = 400_000;
/// About 7 s of probing on a quiet host; allow for a busy one.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn hostile_guest() -> PathBuf {
    bare_guest::image("HYP_ARM_HOSTILE_GUEST")
}

fn runs_without_leaks(gic_version: GicVersion) -> Result<(), Failure> {
    let command = bare_guest::command(gic_version, 1, &hostile_guest(), PROBE_RANGES);
    let mut qemu = Qemu::spawn(command);
    qemu.add_failure_pattern("HOSTILE-FAIL");
    qemu.wait_for(secure::UP, RUN_TIMEOUT)?;
    let summary = qemu.wait_for_line("HOSTILE-SUMMARY ", RUN_TIMEOUT)?;
    let field = |name: &str| {
        summary
            .split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse::<u64>().ok())
    };
    let (Some(tried), Some(blocked), Some(leaked)) =
        (field("tried"), field("blocked"), field("leaked"))
    else {
        return Err(qemu.failure(format!("cannot read `HOSTILE-SUMMARY {summary}`")));
    };
    if leaked != 0 || blocked != tried {
        let leaks: Vec<String> = qemu
            .output()
            .lines()
            .filter(|line| line.contains("HOSTILE-LEAK"))
            .map(str::to_string)
            .collect();
        return Err(qemu.failure(format!(
            "{leaked} of {tried} misuses leaked:\n{}",
            leaks.join("\n")
        )));
    }
    if tried < MINIMUM_TRIED {
        return Err(qemu.failure(format!(
            "the hostile guest tried only {tried} misuses, fewer than {MINIMUM_TRIED}"
        )));
    }
    // Each refusal is logged against the domain until its log budget runs out (a hostile guest
    // must not flood the console), which is said once.
    if qemu
        .find_line(|line| line.starts_with("[hyp] android: vCPU 0 "))
        .is_none()
        || qemu
            .find_line(|line| {
                line.contains("android: further faults are handled but no longer logged")
            })
            .is_none()
    {
        return Err(qemu.failure("hyp-arm did not log the hostile guest's faults"));
    }
    // The guest now idles; the secure domain, sharing its CPU, must still be beating.
    let before = secure::last_heartbeat(&qemu)
        .ok_or_else(|| qemu.failure("no heartbeat from the secure domain"))?;
    secure::check_heartbeats_continue(&mut qemu, before, 2)?;
    secure::check_started_once(&qemu)?;
    Ok(())
}

#[test]
fn hostile_guest_leaks_nothing_on_gicv2() -> Result<(), Failure> {
    runs_without_leaks(GicVersion::V2)
}

#[test]
fn hostile_guest_leaks_nothing_on_gicv3() -> Result<(), Failure> {
    runs_without_leaks(GicVersion::V3)
}

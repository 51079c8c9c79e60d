//! Smoke run of the micro-benchmark guest (`images/microbench`, issue 5) under hyp-arm: with a
//! few iterations (its `iterations=` and `rounds=` options) it must report every case and exit
//! QEMU with status 0. No figure is checked: `cargo xtask bench --only micro` measures. On GICv3
//! it also counts hyp-arm's instructions with the PMU (`pmu=el2`, under `-icount`, where QEMU
//! counts instructions), and each synchronous case must report a count above zero.
//!
//! Needs `HYP_ARM_MICROBENCH_GUEST` (the raw image `cargo xtask test` builds) besides the usual
//! `HYP_ARM_IMAGE` and `HYP_ARM_LOG_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use hyp_arm_system_tests::{bare_guest, Failure, GicVersion, Qemu};

/// Few enough for CI: the run takes a few seconds.
const OPTIONS: &str = "iterations=50 rounds=10";
/// Every case the guest measures with two CPUs, as it names them in `MICROBENCH <name> ...`.
const CASES: [&str; 5] = [
    "hypercall-psci-version",
    "gicd-typer-read",
    "gicd-ipriorityr-write",
    "vtimer-deadline-to-handler",
    "ipi-sgi-to-handler",
];
/// The cases the guest counts EL2 instructions for, with `pmu=el2`.
const SYNCHRONOUS_CASES: [&str; 3] = [
    "hypercall-psci-version",
    "gicd-typer-read",
    "gicd-ipriorityr-write",
];
/// QEMU counts the PMU's instruction event only with a fixed icount shift.
const ICOUNT: [&str; 2] = ["-icount", "shift=0,sleep=off"];
/// From QEMU's start to the guest's exit, on a busy host.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn microbench_guest() -> PathBuf {
    bare_guest::image("HYP_ARM_MICROBENCH_GUEST")
}

/// `<ticks per operation> <iterations>` after the case's name: two numbers.
fn well_formed(fields: &str) -> bool {
    let fields: Vec<&str> = fields.split_whitespace().collect();
    matches!(fields.as_slice(), [ticks, iterations]
        if ticks.parse::<f64>().is_ok() && iterations.parse::<u64>().is_ok())
}

fn reports_every_case(gic_version: GicVersion, count_el2: bool) -> Result<(), Failure> {
    let options = if count_el2 {
        format!("{OPTIONS} pmu=el2")
    } else {
        OPTIONS.to_string()
    };
    let mut command = bare_guest::command(gic_version, 2, &microbench_guest(), &options);
    if count_el2 {
        command.args(ICOUNT);
    }
    let mut qemu = Qemu::spawn(command);
    qemu.add_failure_pattern("MICROBENCH-FAIL");
    qemu.wait_for("MICROBENCH-START", RUN_TIMEOUT)?;
    qemu.wait_for("MICROBENCH-DONE", RUN_TIMEOUT)?;
    for case in CASES {
        let prefix = format!("MICROBENCH {case} ");
        // A hypervisor line may run into the guest's (stdout and stderr share the buffer).
        let report = qemu.find_line(|line| line.contains(&prefix));
        let fields = report
            .as_deref()
            .and_then(|line| line.split_once(&prefix))
            .map(|(_, fields)| fields.trim_end());
        match fields {
            Some(fields) if well_formed(fields) => {}
            Some(fields) => {
                return Err(qemu.failure(format!("cannot read `{prefix}{fields}`")));
            }
            None => return Err(qemu.failure(format!("the guest did not report `{case}`"))),
        }
    }
    if count_el2 {
        for case in SYNCHRONOUS_CASES {
            let prefix = format!("MICROBENCH-EL2 {case} ");
            let count = qemu
                .find_line(|line| line.contains(&prefix))
                .and_then(|line| {
                    let (_, count) = line.split_once(&prefix)?;
                    count.trim_end().parse::<f64>().ok()
                });
            match count {
                Some(count) if count > 0.0 => {}
                Some(_) => {
                    return Err(qemu.failure(format!("`{prefix}` counted no EL2 instructions")))
                }
                None => return Err(qemu.failure(format!("no readable `{prefix}<count>` line"))),
            }
        }
    }
    let status = qemu.wait_for_exit(RUN_TIMEOUT)?;
    if status.code() != Some(0) {
        return Err(qemu.failure(format!("QEMU exited with {status}, not 0")));
    }
    Ok(())
}

#[test]
fn microbench_reports_every_case_on_gicv3() -> Result<(), Failure> {
    reports_every_case(GicVersion::V3, true)
}

#[test]
fn microbench_reports_every_case_on_gicv2() -> Result<(), Failure> {
    reports_every_case(GicVersion::V2, false)
}

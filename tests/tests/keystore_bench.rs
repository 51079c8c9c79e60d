//! Smoke test of the keystore benchmark (`cargo xtask bench --only keystore`): init's
//! `hyptest=keystore-bench` mode with a few requests must print a readable report for every
//! operation and power off. No figure is checked: it is a benchmark, not a timed test.

use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, STEP_TIMEOUT, USERSPACE};
use hyp_arm_system_tests::keystore_bench::{self, DONE, OPERATIONS, REPORT};
use hyp_arm_system_tests::{secure, BootConfig, BootTarget, Failure, GicVersion, Mode, Qemu};

/// Requests per operation: enough to exercise the loop, few enough for CI.
const REQUESTS: u32 = 20;

#[test]
fn keystore_bench_reports_every_operation() -> Result<(), Failure> {
    let config = BootConfig {
        gic_version: GicVersion::V3,
        smp: 1,
        target: BootTarget::HypArm,
        bootargs_extra: Mode::KeystoreBench { requests: REQUESTS }.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(secure::UP, BOOT_TIMEOUT)?;
    qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
    for operation in OPERATIONS {
        let line = qemu.wait_for_line(&format!("[android] {REPORT}"), STEP_TIMEOUT)?;
        let Some(report) = keystore_bench::parse(&line) else {
            return Err(qemu.failure(format!("cannot read the benchmark report `{line}`")));
        };
        if report.operation != operation || report.requests != u64::from(REQUESTS) {
            return Err(qemu.failure(format!(
                "expected {REQUESTS} `{operation}` requests, the report says {} `{}`",
                report.requests, report.operation
            )));
        }
    }
    qemu.wait_for(DONE, STEP_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)
}

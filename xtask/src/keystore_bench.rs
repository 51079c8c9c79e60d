//! `cargo xtask bench --only keystore`: the secure domain's keystore over virtio-vsock (issue 4),
//! driven from android's Linux by `keystore-cli bench` (init's `hyptest=keystore-bench` mode).
//!
//! Each configuration boots twice: under `-icount shift=0,sleep=off -machine dtb-randomness=off`,
//! where a nanosecond of the guest's CLOCK_MONOTONIC is one instruction executed by the whole
//! emulated machine (every CPU, every exception level), so the guest's nanoseconds per request
//! are the system's instructions per request; and without icount, for wall-clock requests per
//! second. PUBLIC_KEY (a 32-byte copy in the service) stands for the transport alone, SIGN adds
//! Ed25519 signing; their difference is the signing.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use hyp_arm_system_tests::command_line::{
    self, BootConfig, BootTarget, Console, GicVersion, Images,
};
use hyp_arm_system_tests::keystore_bench::{self, Report, DONE};
use hyp_arm_system_tests::Mode;

use crate::bench::run_until;
use crate::layout::Layout;
use crate::process::say;
use crate::{build, initramfs, BuildOptions};

/// Requests per operation and boot.
const REQUESTS: u32 = 1000;
/// The longest one boot and benchmark may take (about a minute under icount on a quiet host).
const RUN_LIMIT: Duration = Duration::from_secs(900);
/// What stops a run early: the guest's own error lines and crashes.
const FAILURES: [&str; 3] = ["HYPTEST-ERROR", "Kernel panic", "hyp-arm: panic"];

/// One machine to benchmark.
struct Configuration {
    label: &'static str,
    target: BootTarget,
    smp: u32,
    gic_version: GicVersion,
}

const CONFIGURATIONS: [Configuration; 4] = [
    Configuration {
        label: "shared CPU (domains.toml), 1 CPU, GICv3",
        target: BootTarget::HypArm,
        smp: 1,
        gic_version: GicVersion::V3,
    },
    Configuration {
        label: "shared CPU (domains.toml), 1 CPU, GICv2",
        target: BootTarget::HypArm,
        smp: 1,
        gic_version: GicVersion::V2,
    },
    Configuration {
        label: "pinned (domains-pinned.toml), 4 CPUs, GICv3",
        target: BootTarget::HypArmPinned,
        smp: 4,
        gic_version: GicVersion::V3,
    },
    Configuration {
        label: "pinned (domains-pinned.toml), 4 CPUs, GICv2",
        target: BootTarget::HypArmPinned,
        smp: 4,
        gic_version: GicVersion::V2,
    },
];

/// Builds the images, runs every configuration and returns the Markdown table.
pub fn keystore_bench(layout: &Layout) -> Result<String> {
    let shared = build::build(layout, &BuildOptions::for_board("qemu-virt"))?;
    let pinned = build::build(
        layout,
        &BuildOptions {
            domains: Some("domains-pinned.toml".to_string()),
            ..BuildOptions::for_board("qemu-virt")
        },
    )?;
    let initrd = initramfs::build(layout)?;
    let mut rows = Vec::new();
    for configuration in &CONFIGURATIONS {
        let hypervisor = match configuration.target {
            BootTarget::HypArmPinned => pinned.clone(),
            _ => shared.clone(),
        };
        let images = Images {
            hypervisor,
            guest_kernel: layout.guest_kernel(),
            guest_initrd: initrd.clone(),
        };
        let icount = run(configuration, &images, true)
            .with_context(|| format!("{} under icount", configuration.label))?;
        let wall = run(configuration, &images, false)
            .with_context(|| format!("{} in wall-clock time", configuration.label))?;
        rows.push(row(configuration.label, &icount, &wall)?);
    }
    Ok(table(&rows))
}

/// One boot in `configuration` (under icount or not): the guest's reports, PUBLIC_KEY first.
fn run(configuration: &Configuration, images: &Images, icount: bool) -> Result<Vec<Report>> {
    let config = BootConfig {
        gic_version: configuration.gic_version,
        smp: configuration.smp,
        target: configuration.target,
        bootargs_extra: Mode::KeystoreBench { requests: REQUESTS }.bootargs(),
        ..BootConfig::default()
    };
    let mut command = command_line::command(&config, images, Console::Captured);
    if icount {
        // dtb-randomness=off: no random rng-seed / kaslr-seed in the device trees, which would
        // change the guest's path from run to run.
        command.args([
            "-icount",
            "shift=0,sleep=off",
            "-machine",
            "dtb-randomness=off",
        ]);
    }
    say(format!(
        "keystore benchmark: {}, {}",
        configuration.label,
        if icount { "icount" } else { "wall clock" }
    ));
    let outcome = run_until(command, RUN_LIMIT, |seen| {
        if let Some(failure) = FAILURES.iter().find(|failure| seen.contains(*failure)) {
            let line = seen
                .lines()
                .find(|line| line.contains(failure))
                .unwrap_or("");
            return Some(Err(format!("the run failed: `{}`", line.trim_end())));
        }
        seen.contains(DONE)
            .then(|| Ok(keystore_bench::reports(seen)))
    })
    .with_context(|| format!("no `{DONE}`"))?;
    let reports = outcome.map_err(anyhow::Error::msg)?;
    for report in &reports {
        say(format!(
            "  {}: mean {:.1} ns, min {} ns, {:.1} requests/s",
            report.operation, report.mean_ns, report.min_ns, report.requests_per_second
        ));
    }
    Ok(reports)
}

/// One table row's figures.
struct Row {
    label: &'static str,
    public_key: Report,
    sign: Report,
    wall_public_key: Report,
    wall_sign: Report,
}

fn row(label: &'static str, icount: &[Report], wall: &[Report]) -> Result<Row> {
    let find = |reports: &[Report], operation: &str, what: &str| -> Result<Report> {
        match reports.iter().find(|report| report.operation == operation) {
            Some(report) => Ok(report.clone()),
            None => bail!("{label}: no `{operation}` report in the {what} run"),
        }
    };
    Ok(Row {
        label,
        public_key: find(icount, "pubkey", "icount")?,
        sign: find(icount, "sign", "icount")?,
        wall_public_key: find(wall, "pubkey", "wall-clock")?,
        wall_sign: find(wall, "sign", "wall-clock")?,
    })
}

fn table(rows: &[Row]) -> String {
    let mut table = format!(
        "{REQUESTS} requests of each kind on one connection after one untimed request. \
         Instructions per request: CLOCK_MONOTONIC ns under -icount shift=0,sleep=off, mean \
         (min). Wall clock: requests/s without icount.\n\n\
         | configuration | PUBLIC_KEY (instructions) | SIGN (instructions) | signing alone \
         (SIGN - PUBLIC_KEY, means (mins)) | PUBLIC_KEY wall clock (requests/s) | SIGN wall clock \
         (requests/s) |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    for row in rows {
        table.push_str(&format!(
            "| {} | {:.0} ({}) | {:.0} ({}) | {:.0} ({}) | {:.0} | {:.0} |\n",
            row.label,
            row.public_key.mean_ns,
            row.public_key.min_ns,
            row.sign.mean_ns,
            row.sign.min_ns,
            row.sign.mean_ns - row.public_key.mean_ns,
            i128::from(row.sign.min_ns) - i128::from(row.public_key.min_ns),
            row.wall_public_key.requests_per_second,
            row.wall_sign.requests_per_second,
        ));
    }
    table
}

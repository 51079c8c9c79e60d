//! `cargo xtask bench`: boot time to guest userspace under hyp-arm beside the same kernel and
//! initramfs on bare QEMU, measured two ways, plus the image size:
//!
//! - wall clock from QEMU start to the guest's userspace marker (several runs, min and median):
//!   what a person waits, noisy on a shared machine;
//! - virtual time under `-icount shift=0,sleep=off` and `dtb-randomness=off`, where QEMU's clock
//!   advances with executed instructions and never while idle, and the guest gets no random
//!   seeds, so it repeats: from power-on to the kernel's
//!   `Run /init`. The kernel's printk clock starts when the kernel starts its clock, so under
//!   hyp-arm the time hyp-arm spent before starting the guest (which it logs, from the same
//!   counter) is added; the few instructions before a bare kernel's clock starts are not.
//!
//! A benchmark, not a test: it reports numbers and fails only when a boot does not reach
//! userspace at all.

use std::fs;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyp_arm_system_tests::command_line::{self, BootConfig, BootTarget, Console, Images};
use hyp_arm_system_tests::guest::USERSPACE;

use crate::layout::Layout;
use crate::process::say;
use crate::{build, deps, initramfs, BenchOptions, BuildOptions};

/// The RAM hyp-arm gives its guest on qemu-virt (boards/qemu-virt), which the bare kernel gets too.
const GUEST_RAM: &str = "1G";

/// The longest one boot may take before the benchmark gives up on it.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

pub fn bench(layout: &Layout, options: &BenchOptions) -> Result<()> {
    deps::install(layout)?;
    if matches!(options.only.as_deref(), None | Some("keystore")) {
        // The keystore over virtio-vsock (issue 4): instructions and wall-clock rate per request.
        let table = crate::keystore_bench::keystore_bench(layout)?;
        println!("\nKeystore over vsock:\n\n{table}");
    }
    if options.only.as_deref() == Some("keystore") {
        return Ok(());
    }
    if options.only.as_deref() != Some("boot") {
        // Per-operation exit costs on bare QEMU, hyp-arm and Xen, in instructions (icount).
        for gic in [3, 2] {
            let table = crate::microbench::microbench(layout, gic, true)?;
            println!("\n{table}");
        }
    }
    if options.only.as_deref() == Some("micro") {
        return Ok(());
    }
    let hypervisor = build::build(layout, &BuildOptions::for_board("qemu-virt"))?;
    let initrd = initramfs::build(layout)?;
    let images = Images {
        hypervisor: hypervisor.clone(),
        guest_kernel: layout.guest_kernel(),
        guest_initrd: initrd,
    };

    let mut icount_table = String::from(
        "| configuration | runs | bare QEMU min / median (s) | hyp-arm min / median (s) | ratio of medians |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    let mut table = String::from(
        "| configuration | runs | bare QEMU min / median (s) | hyp-arm min / median (s) | ratio of medians |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for (gic_version, smp) in [
        (command_line::GicVersion::V3, 4),
        (command_line::GicVersion::V2, 4),
        (command_line::GicVersion::V3, 1),
    ] {
        let config = |target| BootConfig {
            gic_version,
            smp,
            // The bare kernel gets what the guest gets under hyp-arm (the qemu-virt board's
            // 1 GiB): memory initialisation grows with RAM, so 2 GiB would flatter hyp-arm.
            memory: match target {
                BootTarget::BareKernel => GUEST_RAM.to_string(),
                BootTarget::HypArm | BootTarget::HypArmPinned => BootConfig::default().memory,
            },
            target,
            // The guest's own boot report, which starts with the userspace marker.
            bootargs_extra: "hyptest=boot".to_string(),
            ..BootConfig::default()
        };
        let bare = measure(&config(BootTarget::BareKernel), &images, options.runs)?;
        let hyp = measure(&config(BootTarget::HypArm), &images, options.runs)?;
        let label = format!(
            "GICv{}, {smp} CPU{}, cortex-a57",
            gic_version,
            if smp == 1 { "" } else { "s" }
        );
        let bare_virtual = repeat(options.runs, || {
            virtual_time_to_init(&config(BootTarget::BareKernel), &images)
        })?;
        let hyp_virtual = repeat(options.runs, || {
            virtual_time_to_init(&config(BootTarget::HypArm), &images)
        })?;
        say(format!(
            "{label}: virtual time to init (median): bare {:.3} s, hyp-arm {:.3} s",
            bare_virtual.median, hyp_virtual.median
        ));
        icount_table.push_str(&format!(
            "| {label} | {} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} |\n",
            options.runs,
            bare_virtual.min,
            bare_virtual.median,
            hyp_virtual.min,
            hyp_virtual.median,
            hyp_virtual.median / bare_virtual.median
        ));
        table.push_str(&format!(
            "| {label} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} |\n",
            options.runs,
            bare.min,
            bare.median,
            hyp.min,
            hyp.median,
            hyp.median / bare.median
        ));
    }
    let elf = fs::metadata(&hypervisor)
        .with_context(|| format!("cannot read {}", hypervisor.display()))?
        .len();
    let raw = fs::metadata(hypervisor.with_extension("bin"))
        .map(|m| m.len())
        .unwrap_or(0);
    table.push_str(&format!(
        "\nImage size: {raw} bytes as a raw arm64 Image (`hyp-arm.bin`, what a loader copies), \
         {elf} bytes as the ELF (`hyp-arm.img`, with symbols).\n"
    ));
    println!("\nVirtual time to `Run /init` under -icount shift=0,sleep=off:\n\n{icount_table}");
    println!("Wall clock to the guest's first userspace line:\n\n{table}");
    Ok(())
}

/// Boots under `-icount shift=0,sleep=off` and returns the guest kernel's timestamp on its
/// `Run /init` line: virtual seconds from power-on, repeatable to the last digit.
fn virtual_time_to_init(config: &BootConfig, images: &Images) -> Result<f64> {
    const MARKER: &str = "Run /init as init process";
    const GUEST_START: &str = "starting vCPU 0 at ";
    let mut command = command_line::command(config, images, Console::Captured);
    // Exactly repeatable only without the random rng-seed and kaslr-seed QEMU puts in every
    // device tree (they change the guest's boot from run to run).
    command.args([
        "-icount",
        "shift=0,sleep=off",
        "-machine",
        "dtb-randomness=off",
    ]);
    let (line, guest_started_us) = run_until(command, BOOT_LIMIT * 2, |seen| {
        let found = complete_line_with(seen, MARKER)?;
        let started_us = complete_line_with(seen, GUEST_START)
            .and_then(|line| line.split_once(GUEST_START))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|number| number.parse::<u64>().ok())
            .unwrap_or(0);
        Some((found.to_string(), started_us))
    })
    .with_context(|| format!("no `{MARKER}`"))?;
    // "[    2.928618] Run /init as init process"
    let stamp = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(stamp, _)| stamp.trim())
        .context("the kernel line has no timestamp")?;
    let kernel_seconds: f64 = stamp
        .parse()
        .with_context(|| format!("`{stamp}` is not a timestamp"))?;
    Ok(kernel_seconds + guest_started_us as f64 / 1e6)
}

/// The whole line (ended by a newline, which the serial console writes as CR LF) that
/// contains `text`, once it has arrived.
fn complete_line_with<'a>(output: &'a str, text: &str) -> Option<&'a str> {
    let at = output.find(text)?;
    let start = output[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let end = at + output[at..].find('\n')?;
    Some(output[start..end].trim_end_matches('\r'))
}

/// Minimum and median of `runs` measurements.
fn repeat(runs: usize, mut measure: impl FnMut() -> Result<f64>) -> Result<Timing> {
    let mut seconds = (0..runs.max(1))
        .map(|_| measure())
        .collect::<Result<Vec<f64>>>()?;
    seconds.sort_by(f64::total_cmp);
    Ok(Timing {
        min: seconds[0],
        median: seconds[seconds.len() / 2],
    })
}

/// Minimum and median of several boots, in seconds.
struct Timing {
    min: f64,
    median: f64,
}

fn measure(config: &BootConfig, images: &Images, runs: usize) -> Result<Timing> {
    let what = match config.target {
        BootTarget::HypArm => "hyp-arm",
        BootTarget::HypArmPinned => "hyp-arm (pinned)",
        BootTarget::BareKernel => "bare QEMU",
    };
    let mut run = 0;
    repeat(runs, || {
        run += 1;
        let elapsed = boot_to_userspace(config, images)
            .with_context(|| format!("{what}: boot {run} did not reach userspace"))?;
        say(format!(
            "{what}, GICv{}, {} CPUs: boot {run}: {:.2} s",
            config.gic_version, config.smp, elapsed
        ));
        Ok(elapsed)
    })
}

/// Starts QEMU and returns the seconds until the guest prints its userspace marker.
fn boot_to_userspace(config: &BootConfig, images: &Images) -> Result<f64> {
    let command = command_line::command(config, images, Console::Captured);
    let start = Instant::now();
    let reached = run_until(command, BOOT_LIMIT, |seen| {
        seen.contains(USERSPACE).then(Instant::now)
    })
    .with_context(|| format!("no `{USERSPACE}`"))?;
    Ok(reached.duration_since(start).as_secs_f64())
}

/// Runs `command` (QEMU) with its stdout read on a thread until `found` recognises what it has
/// printed so far, for at most `limit`; QEMU is stopped either way.
pub(crate) fn run_until<T: Send + 'static>(
    mut command: Command,
    limit: Duration,
    found: impl Fn(&str) -> Option<T> + Send + 'static,
) -> Result<T> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .context("cannot start qemu-system-aarch64")?;
    let mut stdout = child.stdout.take().context("QEMU's stdout")?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = String::new();
        let mut chunk = [0u8; 4096];
        while let Ok(count) = stdout.read(&mut chunk) {
            if count == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&chunk[..count]));
            if let Some(value) = found(&seen) {
                let _ = sender.send(value);
                return;
            }
        }
    });
    let result = receiver.recv_timeout(limit);
    stop(&mut child);
    result.map_err(|_| anyhow::anyhow!("not seen within {} s", limit.as_secs()))
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

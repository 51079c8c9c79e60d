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
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
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
    let hypervisor = build::build(
        layout,
        &BuildOptions {
            board: "qemu-virt".to_string(),
            log: None,
            embed_kernel: None,
            embed_initrd: None,
            embed_bootargs: String::new(),
        },
    )?;
    let initrd = initramfs::build(layout)?;
    let images = Images {
        hypervisor: hypervisor.clone(),
        guest_kernel: layout.guest_kernel(),
        guest_initrd: initrd,
    };

    let mut icount_table = String::from(
        "| configuration | bare QEMU (s) | hyp-arm (s) | ratio |\n| --- | --- | --- | --- |\n",
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
                BootTarget::HypArm => BootConfig::default().memory,
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
        let bare_virtual = virtual_time_to_init(&config(BootTarget::BareKernel), &images)?;
        let hyp_virtual = virtual_time_to_init(&config(BootTarget::HypArm), &images)?;
        say(format!(
            "{label}: virtual time to init: bare {bare_virtual:.3} s, hyp-arm {hyp_virtual:.3} s"
        ));
        icount_table.push_str(&format!(
            "| {label} | {bare_virtual:.3} | {hyp_virtual:.3} | {:.3} |\n",
            hyp_virtual / bare_virtual
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
            if let Some(found) = complete_line_with(&seen, MARKER) {
                let started_us = complete_line_with(&seen, GUEST_START)
                    .and_then(|line| line.split_once(GUEST_START))
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|number| number.parse::<u64>().ok())
                    .unwrap_or(0);
                let _ = sender.send((found.to_string(), started_us));
                return;
            }
        }
    });
    let result = receiver.recv_timeout(BOOT_LIMIT * 2);
    stop(&mut child);
    let (line, guest_started_us) = result
        .map_err(|_| anyhow::anyhow!("no `{MARKER}` within {} s", 2 * BOOT_LIMIT.as_secs()))?;
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

/// Minimum and median of several boots, in seconds.
struct Timing {
    min: f64,
    median: f64,
}

fn measure(config: &BootConfig, images: &Images, runs: usize) -> Result<Timing> {
    let what = match config.target {
        BootTarget::HypArm => "hyp-arm",
        BootTarget::BareKernel => "bare QEMU",
    };
    let mut seconds = Vec::new();
    for run in 1..=runs.max(1) {
        let elapsed = boot_to_userspace(config, images)
            .with_context(|| format!("{what}: boot {run} did not reach userspace"))?;
        say(format!(
            "{what}, GICv{}, {} CPUs: boot {run}: {:.2} s",
            config.gic_version, config.smp, elapsed
        ));
        seconds.push(elapsed);
    }
    seconds.sort_by(f64::total_cmp);
    Ok(Timing {
        min: seconds[0],
        median: seconds[seconds.len() / 2],
    })
}

/// Starts QEMU and returns the seconds until the guest prints its userspace marker.
fn boot_to_userspace(config: &BootConfig, images: &Images) -> Result<f64> {
    let mut command = command_line::command(config, images, Console::Captured);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = command
        .spawn()
        .context("cannot start qemu-system-aarch64")?;
    let mut stdout = child.stdout.take().context("QEMU's stdout")?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(count) = stdout.read(&mut chunk) {
            if count == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..count]);
            if seen
                .windows(USERSPACE.len())
                .any(|window| window == USERSPACE.as_bytes())
            {
                let _ = sender.send(Instant::now());
                return;
            }
        }
    });
    let result = receiver.recv_timeout(BOOT_LIMIT);
    stop(&mut child);
    match result {
        Ok(reached) => Ok(reached.duration_since(start).as_secs_f64()),
        Err(_) => bail!("no `{USERSPACE}` within {} s", BOOT_LIMIT.as_secs()),
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

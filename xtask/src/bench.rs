//! `cargo xtask bench`: boot time to guest userspace under hyp-arm beside the same kernel and
//! initramfs on bare QEMU (wall clock, several runs, min and median), plus the image size.
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

/// The longest one boot may take before the benchmark gives up on it.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

pub fn bench(layout: &Layout, options: &BenchOptions) -> Result<()> {
    deps::install(layout)?;
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
    println!("\n{table}");
    Ok(())
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

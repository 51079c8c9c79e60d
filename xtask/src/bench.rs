//! `cargo xtask bench`: the benchmarks (docs/BENCHMARKS.md), and what they share: running QEMU
//! until its output shows a result, and the minimum and median of several runs.
//!
//! Benchmarks, not tests: they report numbers and fail only when a run gives none.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::layout::Layout;
use crate::{deps, BenchOptions};

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
    crate::boot_bench::boot_bench(layout, options.runs)
}

/// The whole line (ended by a newline, which the serial console writes as CR LF) that
/// contains `text`, once it has arrived.
pub(crate) fn complete_line_with<'a>(output: &'a str, text: &str) -> Option<&'a str> {
    let at = output.find(text)?;
    let start = output[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let end = at + output[at..].find('\n')?;
    Some(output[start..end].trim_end_matches('\r'))
}

/// Minimum and median of `runs` measurements.
pub(crate) fn repeat(runs: usize, mut measure: impl FnMut() -> Result<f64>) -> Result<Timing> {
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
pub(crate) struct Timing {
    pub min: f64,
    pub median: f64,
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

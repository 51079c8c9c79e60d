//! The micro-benchmark guest (`images/microbench`) on bare QEMU, under hyp-arm and under Xen 4.17
//! (Debian's package, the guest as dom0), side by side: what a null hypercall, trapped GIC
//! distributor accesses, a virtual IPI and a virtual timer interrupt cost, in generic-counter
//! ticks per operation.
//!
//! The guest reports through semihosting, which QEMU writes to its stderr; the console (the
//! hypervisors' logs) is on stdout. Report lines are picked out wherever they start in a line.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hyp_arm_system_tests::command_line::option_value;

use crate::layout::Layout;
use crate::process::{self, run, say, shown};
use crate::{bare_guest, build, BuildOptions};

/// Under `-icount shift=0` QEMU's generic counter runs at 62.5 MHz against 1 GHz of
/// instructions: one tick is 16 instructions.
const INSTRUCTIONS_PER_TICK: f64 = 16.0;
/// The longest one run may take; a run takes seconds.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The one-domain plan (boards/qemu-virt/domains-solo.toml): the guest alone, as under Xen.
const SOLO_DOMAINS: &str = "domains-solo.toml";
/// CPUs per machine (the IPI needs two).
const CPUS: u32 = 2;
/// Debian's Xen hypervisor package, and what Xen is told: dom0 memory and its console.
const XEN_PACKAGE: &str = "xen-hypervisor-4.17-arm64";
const XEN_COMMAND_LINE: &str = "dom0_mem=512M console=dtuart dtuart=/pl011@9000000";

/// Runs the benchmark on bare QEMU, under hyp-arm and under Xen (GIC version `gic`, and
/// `-icount shift=0,sleep=off` when `icount`) and returns the Markdown table.
pub fn microbench(layout: &Layout, gic: u8, icount: bool) -> Result<String> {
    ensure!(gic == 2 || gic == 3, "the GIC version is 2 or 3, not {gic}");
    let guest = bare_guest::microbench(layout)?;
    // Xen runs the guest as its lone dom0, so the like-for-like hyp-arm is the one-domain plan;
    // the default plan (the secure domain sharing CPU 0 with the guest) is measured beside it.
    let solo_hypervisor = build::build(
        layout,
        &BuildOptions {
            domains: Some(SOLO_DOMAINS.to_string()),
            ..BuildOptions::for_board("qemu-virt")
        },
    )?;
    let hypervisor = build::build(layout, &BuildOptions::for_board("qemu-virt"))?;
    let xen = xen_image(layout)?;
    let guest_module = |addr: &str| {
        format!(
            "guest-loader,addr={addr},kernel={}",
            option_value(&guest.to_string_lossy())
        )
    };

    let mut bare = qemu(&format!("virt,gic-version={gic}"), CPUS, icount);
    bare.arg("-kernel").arg(&guest);

    let hyp_machine = format!("virt,virtualization=on,gic-version={gic}");
    let hyp_arm = |image: &PathBuf| {
        let mut command = qemu(&hyp_machine, CPUS, icount);
        command
            .arg("-kernel")
            .arg(image)
            .args(["-device", &guest_module("0x48000000")]);
        command
    };

    // Xen is a Linux-format image, so QEMU puts the device tree at RAM + 128 MiB
    // (0x48000000): the guest goes elsewhere. Under icount Xen 4.17 hangs with two CPUs.
    let mut xen_command = qemu(&hyp_machine, if icount { 1 } else { CPUS }, icount);
    xen_command
        .arg("-kernel")
        .arg(&xen)
        .args(["-append", XEN_COMMAND_LINE])
        .args(["-device", &guest_module("0x50000000")]);

    let columns = [
        (
            "bare QEMU",
            results(bare).context("the micro-benchmark on bare QEMU")?,
        ),
        (
            "hyp-arm",
            results(hyp_arm(&solo_hypervisor))
                .context("the micro-benchmark under hyp-arm (one domain)")?,
        ),
        (
            "hyp-arm, secure domain sharing CPU 0",
            results(hyp_arm(&hypervisor))
                .context("the micro-benchmark under hyp-arm (two domains)")?,
        ),
        (
            "Xen 4.17",
            results(xen_command).context("the micro-benchmark under Xen")?,
        ),
    ];
    Ok(table(gic, icount, &columns))
}

/// QEMU for one run: Cortex-A57s, 2 GiB, semihosting on, the console on stdout.
fn qemu(machine: &str, cpus: u32, icount: bool) -> Command {
    let mut command = Command::new("qemu-system-aarch64");
    command.args([
        "-M",
        machine,
        "-cpu",
        "cortex-a57",
        "-smp",
        &cpus.to_string(),
    ]);
    command.args([
        "-m",
        "2G",
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
    ]);
    if icount {
        command.args(["-icount", "shift=0,sleep=off"]);
    }
    command
}

/// One operation's result: ticks per operation and iterations.
struct Measurement {
    name: String,
    ticks: f64,
    iterations: u64,
}

/// Runs QEMU until the guest exits and returns its measurements.
fn results(mut command: Command) -> Result<Vec<Measurement>> {
    let line = shown(&command);
    say(format!("running {line}"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    // The console (hyp-arm's log) is on stdout; QEMU writes semihosting output to stderr.
    let stdout = child.stdout.take().context("QEMU's stdout")?;
    let stderr = child.stderr.take().context("QEMU's stderr")?;
    let (sender, receiver) = mpsc::channel();
    for mut stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let sender = sender.clone();
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stream.read_to_end(&mut text);
            let _ = sender.send(String::from_utf8_lossy(&text).into_owned());
        });
    }
    let deadline = Instant::now() + RUN_LIMIT;
    let mut streams = Vec::new();
    while streams.len() < 2 {
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(text) => streams.push(text),
            Err(_) => break,
        }
    }
    let finished = streams.len() == 2;
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for QEMU")?;
    let text = streams.concat();
    ensure!(
        finished,
        "`{line}` did not finish within {} s; the output ends:\n{}",
        RUN_LIMIT.as_secs(),
        last_lines(&text, 20)
    );
    if let Some(failure) = reports(&text).find(|report| report.starts_with("MICROBENCH-FAIL")) {
        bail!(
            "the guest reports `{failure}`; the output ends:\n{}",
            last_lines(&text, 20)
        );
    }
    ensure!(
        reports(&text).any(|report| report == "MICROBENCH-DONE"),
        "the guest did not finish ({status}); the output ends:\n{}",
        last_lines(&text, 20)
    );
    ensure!(status.success(), "`{line}` failed ({status})");
    reports(&text)
        .filter_map(|report| report.strip_prefix("MICROBENCH "))
        .map(|fields| {
            measurement(fields)
                .with_context(|| format!("cannot read the guest's report `MICROBENCH {fields}`"))
        })
        .collect()
}

/// `<name> <ticks per operation> <iterations>`, as the guest reports it.
fn measurement(fields: &str) -> Option<Measurement> {
    let mut fields = fields.split_whitespace();
    let measurement = Measurement {
        name: fields.next()?.to_string(),
        ticks: fields.next()?.parse().ok()?,
        iterations: fields.next()?.parse().ok()?,
    };
    fields.next().is_none().then_some(measurement)
}

/// The guest's report lines: each from `MICROBENCH` to the end of its line, wherever it starts
/// (a hypervisor line may have been cut by it).
fn reports(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|line| line.find("MICROBENCH").map(|at| line[at..].trim_end()))
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// The Markdown table: ticks per operation (and instructions under icount), one column per
/// system.
fn table(gic: u8, icount: bool, columns: &[(&str, Vec<Measurement>)]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for measurement in columns.iter().flat_map(|(_, results)| results) {
        if !names.contains(&measurement.name.as_str()) {
            names.push(&measurement.name);
        }
    }
    let mut table = format!(
        "GICv{gic}, cortex-a57, {}. Counter ticks per operation: for hypercalls and \
         distributor accesses a loop's time less an empty loop's, for interrupts the time from \
         sending the SGI or the timer's deadline to handler entry.\n\n",
        if icount {
            "`-icount shift=0,sleep=off` (one tick = 16 instructions; Xen with one CPU, \
             as it hangs with two under icount)"
        } else {
            "wall-clock time under TCG (counter at 62.5 MHz)"
        }
    );
    let mut header = String::from("| operation |");
    for (system, _) in columns {
        header.push_str(&format!(" {system} (ticks) |"));
    }
    if icount {
        for (system, _) in columns {
            header.push_str(&format!(" {system} (instructions) |"));
        }
    }
    header.push_str(" iterations |");
    let cells = header.matches('|').count() - 1;
    table.push_str(&header);
    table.push_str(&format!("\n|{}\n", " --- |".repeat(cells)));
    for name in names {
        let found: Vec<Option<&Measurement>> = columns
            .iter()
            .map(|(_, results)| results.iter().find(|m| m.name == name))
            .collect();
        table.push_str(&format!("| {name} |"));
        for measurement in &found {
            table.push_str(&match measurement {
                Some(m) => format!(" {:.2} |", m.ticks),
                None => " – |".to_string(),
            });
        }
        if icount {
            for measurement in &found {
                table.push_str(&match measurement {
                    Some(m) => format!(" {:.0} |", m.ticks * INSTRUCTIONS_PER_TICK),
                    None => " – |".to_string(),
                });
            }
        }
        let iterations = found.iter().flatten().map(|m| m.iterations).max();
        table.push_str(&format!(" {} |\n", iterations.unwrap_or(0)));
    }
    table
}

/// Debian's Xen hypervisor, downloaded and unpacked into `target/xen/` unless already there.
/// (`cargo xtask deps` enables the arm64 architecture in dpkg.)
fn xen_image(layout: &Layout) -> Result<PathBuf> {
    let dir = layout.target().join("xen");
    let image = dir.join("root/boot/xen-4.17-arm64");
    if image.is_file() {
        return Ok(image);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    say(format!("downloading Xen ({XEN_PACKAGE})"));
    // apt's download sandbox user may not be able to write here; root downloads as root.
    let mut download = Command::new("apt-get");
    download.current_dir(&dir).arg("download");
    if process::is_root() {
        download.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(download.arg(format!("{XEN_PACKAGE}:arm64")))?;
    let deb = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(XEN_PACKAGE))
        })
        .with_context(|| {
            format!(
                "apt-get download left no {XEN_PACKAGE} in {}",
                dir.display()
            )
        })?;
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.join("root")))?;
    ensure!(
        image.is_file(),
        "{} has no {}",
        deb.display(),
        image.display()
    );
    Ok(image)
}

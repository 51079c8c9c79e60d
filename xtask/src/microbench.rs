//! The micro-benchmark guest (`images/microbench`) on bare QEMU, under hyp-arm and under Xen 4.17
//! (Debian's package, the guest as dom0), side by side: what a null hypercall, trapped GIC
//! distributor accesses, a virtual IPI and a virtual timer interrupt cost, in generic-counter
//! ticks per operation.
//!
//! The guest reports through semihosting, which QEMU writes to its stderr; the console (the
//! hypervisors' logs) is on stdout. Report lines are picked out wherever they start in a line.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hyp_arm_system_tests::command_line::option_value;

use crate::layout::Layout;
use crate::process::{say, shown};
use crate::xen::{self, XenBoot};
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
/// The memory Xen gives its dom0 (the guest).
const XEN_DOM0_MEMORY: &str = "512M";
/// The guest's option to count the hypervisor's instructions with the PMU (INST_RETIRED at EL2,
/// exact under icount).
const EL2_COUNTING: &str = "pmu=el2";

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
    let xen = xen::image(layout)?;
    // Under icount the guest also counts, with the PMU, the instructions run at EL2.
    let el2_bootargs = icount.then(|| EL2_COUNTING.to_string());
    let guest_module = |addr: &str| {
        let mut module = format!(
            "guest-loader,addr={addr},kernel={}",
            option_value(&guest.to_string_lossy())
        );
        if let Some(bootargs) = &el2_bootargs {
            module.push_str(&format!(",bootargs={bootargs}"));
        }
        module
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

    // Under icount Xen 4.17 hangs with two CPUs.
    let mut xen_command = qemu(&hyp_machine, if icount { 1 } else { CPUS }, icount);
    xen_command.args(
        XenBoot {
            command_line: format!("dom0_mem={XEN_DOM0_MEMORY} {}", xen::UART_CONSOLE),
            dom0_kernel: &guest,
            // Xen 4.17 has no PMU for its guests: it answers the first PMU access with an
            // undefined-instruction exception.
            dom0_bootargs: None,
            dom0_ramdisk: None,
        }
        .arguments(&xen)?,
    );

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

/// One operation's result: ticks per operation and iterations, and the instructions the
/// hypervisor ran per operation if the guest counted them.
struct Measurement {
    name: String,
    ticks: f64,
    iterations: u64,
    el2_instructions: Option<f64>,
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
    let mut measurements = reports(&text)
        .filter_map(|report| report.strip_prefix("MICROBENCH "))
        .map(|fields| {
            measurement(fields)
                .with_context(|| format!("cannot read the guest's report `MICROBENCH {fields}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    for fields in reports(&text).filter_map(|report| report.strip_prefix("MICROBENCH-EL2 ")) {
        let (name, instructions) = el2_count(fields)
            .with_context(|| format!("cannot read the guest's report `MICROBENCH-EL2 {fields}`"))?;
        if let Some(measurement) = measurements.iter_mut().find(|m| m.name == name) {
            measurement.el2_instructions = Some(instructions);
        }
    }
    Ok(measurements)
}

/// `<name> <instructions per operation>`: the hypervisor's share, counted by the PMU.
fn el2_count(fields: &str) -> Option<(&str, f64)> {
    let mut fields = fields.split_whitespace();
    let name = fields.next()?;
    let instructions = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((name, instructions))
}

/// `<name> <ticks per operation> <iterations>`, as the guest reports it.
fn measurement(fields: &str) -> Option<Measurement> {
    let mut fields = fields.split_whitespace();
    let measurement = Measurement {
        name: fields.next()?.to_string(),
        ticks: fields.next()?.parse().ok()?,
        iterations: fields.next()?.parse().ok()?,
        el2_instructions: None,
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
    // The systems whose guest counted EL2 instructions (not bare QEMU, which has no EL2).
    let counted: Vec<usize> = (0..columns.len())
        .filter(|&column| {
            columns[column]
                .1
                .iter()
                .any(|m| m.el2_instructions.is_some())
        })
        .collect();
    for &column in &counted {
        header.push_str(&format!(" {} (EL2 instructions, PMU) |", columns[column].0));
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
        for &column in &counted {
            table.push_str(&match found[column].and_then(|m| m.el2_instructions) {
                Some(instructions) => format!(" {instructions:.0} |"),
                None => " – |".to_string(),
            });
        }
        let iterations = found.iter().flatten().map(|m| m.iterations).max();
        table.push_str(&format!(" {} |\n", iterations.unwrap_or(0)));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(name: &str, ticks: f64, el2_instructions: Option<f64>) -> Measurement {
        Measurement {
            name: name.to_string(),
            ticks,
            iterations: 2000,
            el2_instructions,
        }
    }

    #[test]
    fn reports_are_read_strictly() {
        assert_eq!(
            el2_count("gicd-typer-read 407.00"),
            Some(("gicd-typer-read", 407.0))
        );
        assert_eq!(el2_count("gicd-typer-read"), None);
        assert_eq!(el2_count("gicd-typer-read 407 extra"), None);
        assert_eq!(el2_count("gicd-typer-read many"), None);
        let report = measurement("hypercall-psci-version 16.81 2000").expect("valid");
        assert_eq!(report.ticks, 16.81);
        assert!(measurement("hypercall-psci-version 16.81").is_none());
    }

    #[test]
    fn the_pmu_column_appears_only_for_systems_that_counted() {
        let columns = [
            ("bare QEMU", vec![measured("hypercall", 0.37, None)]),
            ("hyp-arm", vec![measured("hypercall", 16.81, Some(263.0))]),
            ("Xen 4.17", vec![measured("hypercall", 29.75, None)]),
        ];
        let table = table(3, true, &columns);
        assert!(
            table.contains("| hyp-arm (EL2 instructions, PMU) |"),
            "{table}"
        );
        assert!(!table.contains("Xen 4.17 (EL2"), "{table}");
        assert!(
            table.contains("| hypercall | 0.37 | 16.81 | 29.75 | 6 | 269 | 476 | 263 | 2000 |"),
            "{table}"
        );
    }
}

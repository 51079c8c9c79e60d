//! `cargo xtask bench --only boot`: boot time to guest userspace, the same kernel and initramfs
//! booted directly on QEMU ("bare"), as hyp-arm's guest and as Xen 4.17's dom0, measured two ways:
//!
//! - wall clock from QEMU start to the guest's userspace marker (several runs, min and median):
//!   what a person waits, noisy on a shared machine;
//! - virtual time under `-icount shift=0,sleep=off` and `dtb-randomness=off`, where QEMU's clock
//!   advances with executed instructions and never while idle, and the guest gets no random
//!   seeds, so it repeats: from power-on to the kernel's `Run /init`. The kernel's printk clock
//!   starts when the kernel starts its clock, so the time the hypervisor spent before starting
//!   the guest is added: hyp-arm logs it (from the same counter); Xen timestamps its own lines
//!   (`console_timestamps=boot`, counted from when Xen starts its clock), and its last line
//!   before dom0 runs is `Freed ...kB init memory`. The few instructions before a kernel's (or
//!   Xen's) clock starts are counted by nobody.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hyp_arm_system_tests::command_line::Images;
use hyp_arm_system_tests::command_line::{self, BootConfig, BootTarget, Console, GicVersion};
use hyp_arm_system_tests::guest::USERSPACE;

use crate::bench::{complete_line_with, repeat, run_until, Timing};
use crate::layout::Layout;
use crate::process::say;
use crate::xen::{self, XenBoot};
use crate::{build, initramfs, BuildOptions};

/// The RAM hyp-arm gives its guest on qemu-virt (boards/qemu-virt); the bare kernel and Xen's
/// dom0 get as much: memory initialisation grows with RAM, so more would flatter hyp-arm.
const GUEST_RAM: &str = "1G";

/// The guest's command line beyond its console: init's boot report, which starts with the
/// userspace marker.
const BOOTARGS_EXTRA: &str = "hyptest=boot";

/// The longest one boot may take before the benchmark gives up on it.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// The kernel's line when it starts userspace: the end of the virtual-time measurement.
const RUN_INIT: &str = "Run /init as init process";

/// hyp-arm's log line when it starts the guest, followed by microseconds since power-on.
const HYP_ARM_GUEST_START: &str = "starting vCPU 0 at ";

/// Xen's last line before dom0 runs (the end of `start_xen`), and the prefix of Xen's own lines.
const XEN_DOM0_START: &str = "kB init memory";
const XEN_LINE: &str = "(XEN) [";

/// Footnote for a configuration Xen cannot be measured in (its cells say "–¹").
const XEN_ICOUNT_FOOTNOTE: &str = "¹ Xen 4.17 does not get through its own start-up under \
     `-icount` with more than one CPU (it stops after `P2M: 4 levels ...` with four CPUs, after \
     `Initializing Credit2 scheduler` with two, still spinning minutes later), so there is no \
     virtual-time figure for it; it boots with one CPU, and with four without icount (wall clock).";

/// The systems side by side, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Bare,
    HypArm,
    Xen,
}

impl System {
    const ALL: [System; 3] = [System::Bare, System::HypArm, System::Xen];

    fn name(self) -> &'static str {
        match self {
            System::Bare => "bare QEMU",
            System::HypArm => "hyp-arm",
            System::Xen => "Xen 4.17",
        }
    }
}

/// One emulated machine: a row of the tables.
#[derive(Clone, Copy)]
struct Machine {
    gic_version: GicVersion,
    smp: u32,
}

impl Machine {
    fn label(self) -> String {
        format!(
            "GICv{}, {} CPU{}, cortex-a57",
            self.gic_version,
            self.smp,
            if self.smp == 1 { "" } else { "s" }
        )
    }
}

const MACHINES: [Machine; 3] = [
    Machine {
        gic_version: GicVersion::V3,
        smp: 4,
    },
    Machine {
        gic_version: GicVersion::V2,
        smp: 4,
    },
    Machine {
        gic_version: GicVersion::V3,
        smp: 1,
    },
];

/// What QEMU loads: hyp-arm, the guest kernel and initramfs, and Xen.
struct Inputs {
    images: Images,
    xen: PathBuf,
}

pub fn boot_bench(layout: &Layout, runs: usize) -> Result<()> {
    let hypervisor = build::build(layout, &BuildOptions::for_board("qemu-virt"))?;
    let inputs = Inputs {
        images: Images {
            hypervisor: hypervisor.clone(),
            guest_kernel: layout.guest_kernel(),
            guest_initrd: initramfs::build(layout)?,
        },
        xen: xen::image(layout)?,
    };
    let mut virtual_table = header();
    let mut wall_table = header();
    for machine in MACHINES {
        let mut virtual_times = Vec::new();
        let mut wall_times = Vec::new();
        for system in System::ALL {
            virtual_times.push(if runs_under_icount(system, machine) {
                Some(virtual_time(system, machine, &inputs, runs)?)
            } else {
                None
            });
            wall_times.push(Some(wall_clock(system, machine, &inputs, runs)?));
        }
        virtual_table.push_str(&row(machine, runs, &virtual_times, 3));
        wall_table.push_str(&row(machine, runs, &wall_times, 2));
    }
    let with_footnote = |table: String| {
        if table.contains("–¹") {
            format!("{table}\n{XEN_ICOUNT_FOOTNOTE}\n")
        } else {
            table
        }
    };
    println!(
        "\nVirtual time to `{RUN_INIT}` under -icount shift=0,sleep=off:\n\n{}",
        with_footnote(virtual_table)
    );
    println!(
        "Wall clock to the guest's first userspace line:\n\n{}{}",
        with_footnote(wall_table),
        image_size(&hypervisor)?
    );
    Ok(())
}

/// Xen 4.17 with more than one CPU never reaches dom0 under icount (docs/BENCHMARKS.md): it is
/// not started there rather than left to time out.
fn runs_under_icount(system: System, machine: Machine) -> bool {
    system != System::Xen || machine.smp == 1
}

/// The QEMU command that boots the guest on `system`, its console on stdout.
fn command(system: System, machine: Machine, inputs: &Inputs) -> Result<Command> {
    let config = BootConfig {
        gic_version: machine.gic_version,
        smp: machine.smp,
        memory: match system {
            System::Bare => GUEST_RAM.to_string(),
            // The hypervisors get the machine hyp-arm is documented on, and give the guest 1 GiB.
            System::HypArm | System::Xen => BootConfig::default().memory,
        },
        target: match system {
            System::Bare => BootTarget::BareKernel,
            System::HypArm | System::Xen => BootTarget::HypArm,
        },
        bootargs_extra: BOOTARGS_EXTRA.to_string(),
        ..BootConfig::default()
    };
    if system != System::Xen {
        return Ok(command_line::command(
            &config,
            &inputs.images,
            Console::Captured,
        ));
    }
    // The machine, CPUs, memory and console exactly as hyp-arm gets them, then Xen in place of
    // hyp-arm. dom0's console is Xen's (hvc0), which Xen writes to the PL011.
    let mut command = Command::new(command_line::QEMU);
    command.args(
        command_line::arguments(&config, &inputs.images, Console::Captured)
            .into_iter()
            .take_while(|argument| argument != "-kernel"),
    );
    command.args(
        XenBoot {
            command_line: format!(
                "dom0_mem={GUEST_RAM} {} console_timestamps=boot",
                xen::UART_CONSOLE
            ),
            dom0_kernel: &inputs.images.guest_kernel,
            dom0_bootargs: Some(format!("console=hvc0 {BOOTARGS_EXTRA}")),
            dom0_ramdisk: Some(&inputs.images.guest_initrd),
        }
        .arguments(&inputs.xen)?,
    );
    Ok(command)
}

/// Minimum and median of `runs` boots' virtual time to `Run /init`.
fn virtual_time(system: System, machine: Machine, inputs: &Inputs, runs: usize) -> Result<Timing> {
    let mut boots = Vec::new();
    let timing = repeat(runs, || {
        let boot = virtual_boot(system, command(system, machine, inputs)?)
            .with_context(|| format!("{} under icount, {}", system.name(), machine.label()))?;
        boots.push(boot);
        Ok(boot.total())
    })?;
    if let Some(boot) = boots.first() {
        say(format!(
            "{}: virtual time to init on {}: {:.3} s before the guest's clock + {:.3} s kernel",
            machine.label(),
            system.name(),
            boot.before_kernel,
            boot.kernel
        ));
    }
    Ok(timing)
}

/// One boot's virtual time, in seconds.
#[derive(Clone, Copy)]
struct VirtualBoot {
    /// The hypervisor's own time before the guest kernel ran (0 on bare QEMU).
    before_kernel: f64,
    /// The kernel's timestamp on `Run /init`.
    kernel: f64,
}

impl VirtualBoot {
    fn total(self) -> f64 {
        self.before_kernel + self.kernel
    }
}

/// Boots `command` under `-icount shift=0,sleep=off` with a device tree free of random seeds
/// (they change the guest's boot from run to run) and reads the times off its console.
fn virtual_boot(system: System, mut command: Command) -> Result<VirtualBoot> {
    command.args([
        "-icount",
        "shift=0,sleep=off",
        "-machine",
        "dtb-randomness=off",
    ]);
    let output = run_until(command, BOOT_LIMIT * 2, |seen| {
        complete_line_with(seen, RUN_INIT).map(|_| seen.to_string())
    })
    .with_context(|| format!("no `{RUN_INIT}`"))?;
    read_virtual_boot(system, &output)
}

/// The virtual times in a console transcript that reaches `Run /init`.
fn read_virtual_boot(system: System, output: &str) -> Result<VirtualBoot> {
    let kernel = complete_line_with(output, RUN_INIT)
        .and_then(|line| timestamp_before(line, RUN_INIT))
        .with_context(|| format!("the `{RUN_INIT}` line has no timestamp"))?;
    let before_kernel = match system {
        System::Bare => 0.0,
        System::HypArm => complete_line_with(output, HYP_ARM_GUEST_START)
            .and_then(|line| line.split_once(HYP_ARM_GUEST_START))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|microseconds| microseconds.parse::<u64>().ok())
            .map(|microseconds| microseconds as f64 / 1e6)
            .with_context(|| format!("hyp-arm's log has no `{HYP_ARM_GUEST_START}N us`"))?,
        System::Xen => output
            .lines()
            .filter(|line| line.contains(XEN_LINE) && line.contains(XEN_DOM0_START))
            .find_map(|line| timestamp_before(line, XEN_DOM0_START))
            .with_context(|| {
                format!("Xen's log has no timestamped `Freed ...{XEN_DOM0_START}` line")
            })?,
    };
    Ok(VirtualBoot {
        before_kernel,
        kernel,
    })
}

/// The `[  seconds]` timestamp nearest before `text` in `line` (another writer's output may
/// precede it on the same line).
fn timestamp_before(line: &str, text: &str) -> Option<f64> {
    let before = &line[..line.find(text)?];
    let open = before.rfind('[')?;
    let (stamp, _) = before[open + 1..].split_once(']')?;
    stamp.trim().parse().ok()
}

/// Minimum and median of `runs` boots' wall-clock time to the userspace marker.
fn wall_clock(system: System, machine: Machine, inputs: &Inputs, runs: usize) -> Result<Timing> {
    let mut run = 0;
    repeat(runs, || {
        run += 1;
        let command = command(system, machine, inputs)?;
        let start = Instant::now();
        let reached = run_until(command, BOOT_LIMIT, |seen| {
            seen.contains(USERSPACE).then(Instant::now)
        })
        .with_context(|| {
            format!(
                "{}, {}: boot {run} did not print `{USERSPACE}`",
                system.name(),
                machine.label()
            )
        })?;
        let elapsed = reached.duration_since(start).as_secs_f64();
        say(format!(
            "{}, {}: boot {run}: {elapsed:.2} s",
            system.name(),
            machine.label()
        ));
        Ok(elapsed)
    })
}

fn header() -> String {
    let mut header = String::from("| configuration | runs |");
    for system in System::ALL {
        header.push_str(&format!(" {} min / median (s) |", system.name()));
    }
    header.push_str(" hyp-arm / bare | Xen / bare |\n");
    let cells = header.matches('|').count() - 1;
    header.push_str(&format!("|{}\n", " --- |".repeat(cells)));
    header
}

/// A table row: each system's min and median with `decimals`, then the ratios of the medians
/// to bare QEMU's. A system that was not measured is "–¹".
fn row(machine: Machine, runs: usize, timings: &[Option<Timing>], decimals: usize) -> String {
    let mut row = format!("| {} | {runs} |", machine.label());
    for timing in timings {
        row.push_str(&match timing {
            Some(timing) => format!(
                " {:.decimals$} / {:.decimals$} |",
                timing.min, timing.median
            ),
            None => " –¹ |".to_string(),
        });
    }
    let bare = timings.first().and_then(Option::as_ref);
    for timing in &timings[1..] {
        row.push_str(&match (bare, timing) {
            (Some(bare), Some(timing)) => format!(" {:.3} |", timing.median / bare.median),
            _ => " –¹ |".to_string(),
        });
    }
    row.push('\n');
    row
}

fn image_size(hypervisor: &std::path::Path) -> Result<String> {
    let elf = std::fs::metadata(hypervisor)
        .with_context(|| format!("cannot read {}", hypervisor.display()))?
        .len();
    let raw_path = hypervisor.with_extension("bin");
    let Ok(raw) = std::fs::metadata(&raw_path).map(|metadata| metadata.len()) else {
        bail!("cannot read {}", raw_path.display());
    };
    Ok(format!(
        "\nImage size: {raw} bytes as a raw arm64 Image (`hyp-arm.bin`, what a loader copies), \
         {elf} bytes as the ELF (`hyp-arm.img`, with symbols).\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_nearest_before_the_text() {
        let line = "(XEN) [    0.288511] Freed 348kB init memory.";
        assert_eq!(timestamp_before(line, XEN_DOM0_START), Some(0.288511));
        // Another writer's stamped text ahead of the kernel's line on the same line.
        let line = "(XEN) [    9.000000] d0v0 [    0.881337] Run /init as init process";
        assert_eq!(timestamp_before(line, RUN_INIT), Some(0.881337));
        assert_eq!(
            timestamp_before("Run /init as init process", RUN_INIT),
            None
        );
    }

    #[test]
    fn xen_boot_adds_xen_time_before_dom0() {
        let output = "(XEN) [    0.002030] *** LOADING DOMAIN 0 ***\r\n\
                      (XEN) [    0.288511] Freed 348kB init memory.\r\n\
                      [    0.000000] Booting Linux on physical CPU 0x0000000000\r\n\
                      [    0.881337] Run /init as init process\r\n";
        let boot = read_virtual_boot(System::Xen, output).expect("both lines are there");
        assert_eq!(boot.before_kernel, 0.288511);
        assert_eq!(boot.kernel, 0.881337);
        // Without Xen's line the figure would be too small: no number at all.
        let dom0_only = &output[output.find("[    0.000000]").expect("kernel line")..];
        assert!(read_virtual_boot(System::Xen, dom0_only).is_err());
        assert_eq!(
            read_virtual_boot(System::Bare, dom0_only)
                .expect("bare")
                .before_kernel,
            0.0
        );
    }

    #[test]
    fn hyp_arm_boot_adds_its_logged_start() {
        let output = "hyp-arm: android: starting vCPU 0 at 11234 us after power-on\r\n\
                      [    0.868000] Run /init as init process\r\n";
        let boot = read_virtual_boot(System::HypArm, output).expect("both lines are there");
        assert_eq!(boot.before_kernel, 0.011234);
        assert!(
            read_virtual_boot(System::HypArm, &output[output.find('[').unwrap_or(0)..]).is_err()
        );
    }

    #[test]
    fn unmeasured_configuration_is_a_dash_not_a_number() {
        let timing = |median| {
            Some(Timing {
                min: median,
                median,
            })
        };
        let machine = MACHINES[0];
        let row = row(machine, 3, &[timing(1.0), timing(1.5), None], 3);
        assert_eq!(
            row,
            "| GICv3, 4 CPUs, cortex-a57 | 3 | 1.000 / 1.000 | 1.500 / 1.500 | –¹ | 1.500 | –¹ |\n"
        );
        assert_eq!(header().lines().count(), 2);
        assert_eq!(
            header()
                .lines()
                .next()
                .map(|line| line.matches('|').count()),
            row.trim_end().matches('|').count().into()
        );
    }

    #[test]
    fn xen_boots_on_hyp_arm_s_machine_with_both_modules() {
        let dir = std::env::temp_dir().join(format!("xtask-boot-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let file = |name: &str| {
            let path = dir.join(name);
            std::fs::write(&path, b"image").expect("image file");
            path
        };
        let inputs = Inputs {
            images: Images {
                hypervisor: file("hyp-arm.img"),
                guest_kernel: file("Image"),
                guest_initrd: file("initramfs.cpio.gz"),
            },
            xen: file("xen"),
        };
        let machine = MACHINES[2];
        let arguments = |system| -> Vec<String> {
            command(system, machine, &inputs)
                .expect("command")
                .get_args()
                .map(|argument| argument.to_string_lossy().into_owned())
                .collect()
        };
        let hyp_arm = arguments(System::HypArm);
        let xen = arguments(System::Xen);
        let _ = std::fs::remove_dir_all(&dir);
        let machine_part = hyp_arm
            .iter()
            .position(|a| a == "-kernel")
            .expect("-kernel");
        assert_eq!(xen[..machine_part], hyp_arm[..machine_part]);
        assert!(xen.iter().any(|a| a.starts_with("dom0_mem=1G ")));
        let modules: Vec<&String> = xen
            .iter()
            .filter(|a| a.starts_with("guest-loader"))
            .collect();
        assert_eq!(modules.len(), 2);
        assert!(modules[0].ends_with(",bootargs=console=hvc0 hyptest=boot"));
        assert!(modules[1].contains(",initrd="));
        assert!(!runs_under_icount(System::Xen, MACHINES[0]));
        assert!(runs_under_icount(System::Xen, machine));
    }
}

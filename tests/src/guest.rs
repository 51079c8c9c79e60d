//! What the test guest's init (`images/initramfs/init`) prints, and the checks built on it.
//!
//! The kernel command line selects a mode with `hyptest=<mode>`; init prints [`USERSPACE`] first in
//! every mode, then the mode's own markers.

use std::time::Duration;

use crate::runner::{Failure, Qemu};

/// Printed by init as soon as it runs, in every mode.
pub const USERSPACE: &str = "HYPTEST-USERSPACE";
/// Every mode, after [`USERSPACE`]: init found Android's three binder devices in /dev (binderfs
/// or binder_linux made them); the line names the ones it found.
pub const BINDER_DEVICES: &str = "android: init has binder devices: binder hwbinder vndbinder";
/// Every mode, after [`BINDER_DEVICES`]: `/bin/binder-client` got the binder
/// protocol version from `/dev/binder`; followed by ` version N`.
pub const BINDER_OK: &str = "HYPTEST-BINDER-OK";
/// Every mode, instead of [`BINDER_OK`]: followed by binder-client's exit status and message.
pub const BINDER_FAILED: &str = "HYPTEST-BINDER-FAILED";
/// The binder protocol version of Linux's binder driver (BINDER_CURRENT_PROTOCOL_VERSION on
/// 64-bit kernels, include/uapi/linux/android/binder.h).
pub const BINDER_PROTOCOL_VERSION: &str = "8";
/// `devmem`: followed by busybox devmem's exit status after reading `hyptest_address=`
/// (135 = killed by SIGBUS: the read faulted).
pub const DEVMEM_STATUS: &str = "HYPTEST-DEVMEM status";
/// `boot`: followed by the number of CPUs in `/sys/devices/system/cpu/online`.
pub const CPUS_ONLINE: &str = "HYPTEST-CPUS online=";
/// `boot`: followed by the arch_timer interrupt count summed over CPUs, before a one-second sleep.
pub const TIMER_FIRST: &str = "HYPTEST-TIMER first=";
/// `boot`: the same count after the sleep.
pub const TIMER_SECOND: &str = "HYPTEST-TIMER second=";
/// `boot`: all checks printed; init powers off next.
pub const BOOT_OK: &str = "HYPTEST-BOOT-OK";
/// `reboot`: printed right before `reboot -f`.
pub const REBOOTING: &str = "HYPTEST-REBOOTING";
/// `fault`: printed after the read of [`FAULT_ADDRESS`] was refused and init carried on.
pub const FAULT_SURVIVED: &str = "HYPTEST-FAULT-SURVIVED";
/// `fault`: a physical address that is neither RAM nor a device on QEMU's virt machine (between
/// the virtio-mmio transports at 0x0a000000 and the platform bus at 0x0c000000).
pub const FAULT_ADDRESS: u64 = 0x0b00_0000;

/// `echo`: init waits for a line typed on the console.
pub const ECHO_READY: &str = "HYPTEST-ECHO-READY";
/// `echo`: followed by the line init read.
pub const ECHO: &str = "HYPTEST-ECHO ";

/// Where hyp-arm's image lies on QEMU virt (RAM base + text_offset): mode `fault` reads it too.
pub const HYPERVISOR_ADDRESS: u64 = 0x4020_0000;

/// From QEMU's start to init's first line. A bare boot of Debian's kernel takes about 4 s on
/// a quiet machine; under the hypervisor, with four emulated CPUs sharing two host cores with
/// another test, allow a lot more.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Between two markers once init runs.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A mode of the test guest's init, selected on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Report CPUs and timer interrupts, then power off.
    Boot,
    /// Reboot as soon as userspace runs.
    Reboot,
    /// Power off as soon as userspace runs.
    Poweroff,
    /// Read [`FAULT_ADDRESS`], survive the abort, then power off.
    Fault,
    /// Read the physical `address` with busybox devmem, report [`DEVMEM_STATUS`], power off.
    Devmem { address: u64 },
    /// Crash the kernel (sysrq `c`): it panics and spins with interrupts off for good.
    Panic,
    /// Print [`ECHO_READY`], read one line from the console, print it after [`ECHO`], power off.
    Echo,
    /// Load the virtio-mmio and vsock drivers and list the virtio devices with their status.
    VsockProbe,
    /// Use the keystore over vsock (pubkey, sign, counter, faults, hmac, random), power off.
    Keystore,
    /// Print the keystore's public key and counter, then reboot (again and again).
    KeystoreReboot,
    /// Benchmark the keystore: `requests` PUBLIC_KEY, then `requests` SIGN requests, each
    /// kind reported on a [`crate::keystore_bench::REPORT`] line, then
    /// [`crate::keystore_bench::DONE`] and power off.
    KeystoreBench { requests: u32 },
}

impl Mode {
    /// The kernel command line words selecting this mode.
    pub fn bootargs(self) -> String {
        let name = match self {
            Mode::Boot => "boot",
            Mode::Reboot => "reboot",
            Mode::Poweroff => "poweroff",
            Mode::Fault => "fault",
            Mode::Panic => "panic",
            Mode::Echo => "echo",
            Mode::VsockProbe => "vsock-probe",
            Mode::Keystore => "keystore",
            Mode::KeystoreReboot => "keystore-reboot",
            Mode::Devmem { address } => {
                return format!("hyptest=devmem hyptest_address={address:#x}");
            }
            Mode::KeystoreBench { requests } => {
                return format!("hyptest=keystore-bench hyptest_requests={requests}");
            }
        };
        format!("hyptest={name}")
    }
}

/// Waits for mode `boot`'s report and checks it: `smp` CPUs online and the timer interrupt count
/// rising while the guest sleeps.
pub fn check_boot_report(qemu: &mut Qemu, smp: u32) -> Result<(), Failure> {
    qemu.wait_for(USERSPACE, BOOT_TIMEOUT)?;
    check_boot_report_after_userspace(qemu, smp)
}

/// [`check_boot_report`] for a caller that already waited for [`USERSPACE`].
pub fn check_boot_report_after_userspace(qemu: &mut Qemu, smp: u32) -> Result<(), Failure> {
    let online = qemu.wait_for_line(CPUS_ONLINE, STEP_TIMEOUT)?;
    if online != smp.to_string() {
        return Err(qemu.failure(format!(
            "{smp} CPUs expected online, the guest reports {online}"
        )));
    }
    let first = number(qemu, TIMER_FIRST)?;
    let second = number(qemu, TIMER_SECOND)?;
    if second <= first {
        return Err(qemu.failure(format!(
            "timer interrupts did not rise while the guest slept: {first} then {second}"
        )));
    }
    qemu.wait_for(BOOT_OK, STEP_TIMEOUT)
}

fn number(qemu: &mut Qemu, prefix: &str) -> Result<u64, Failure> {
    let text = qemu.wait_for_line(prefix, STEP_TIMEOUT)?;
    text.parse()
        .map_err(|_| qemu.failure(format!("`{prefix}` is followed by `{text}`, not a number")))
}

/// Waits for init's binder report (every mode prints one right after [`USERSPACE`]) and checks
/// that it names the protocol version of Linux's binder driver.
pub fn check_binder(qemu: &mut Qemu) -> Result<(), Failure> {
    qemu.add_failure_pattern(BINDER_FAILED);
    let version = qemu.wait_for_line(BINDER_OK, STEP_TIMEOUT)?;
    match version.strip_prefix("version ") {
        Some(BINDER_PROTOCOL_VERSION) => Ok(()),
        _ => Err(qemu.failure(format!(
            "`{BINDER_OK} {version}`: expected `version {BINDER_PROTOCOL_VERSION}`"
        ))),
    }
}

/// Mode `devmem`: waits for devmem's exit status and returns it.
pub fn devmem_status(qemu: &mut Qemu) -> Result<i32, Failure> {
    let status = qemu.wait_for_line(DEVMEM_STATUS, STEP_TIMEOUT)?;
    status
        .parse()
        .map_err(|_| qemu.failure(format!("`{DEVMEM_STATUS}` is followed by `{status}`")))
}

/// Waits for QEMU to exit by itself, as it does when the machine powers off, with status 0.
pub fn check_powered_off(qemu: &mut Qemu) -> Result<(), Failure> {
    let status = qemu.wait_for_exit(STEP_TIMEOUT)?;
    if status.code() != Some(0) {
        return Err(qemu.failure(format!("QEMU exited with {status}, not 0")));
    }
    Ok(())
}

/// Mode `reboot`: waits for `boots` starts of userspace, each but the last followed by a reboot.
pub fn check_reboots(qemu: &mut Qemu, boots: usize) -> Result<(), Failure> {
    for boot in 1..=boots {
        qemu.wait_for(USERSPACE, BOOT_TIMEOUT)?;
        if boot < boots {
            qemu.wait_for(REBOOTING, STEP_TIMEOUT)?;
        }
    }
    Ok(())
}

//! The test guest booted directly by QEMU, without hyp-arm: checks the guest image, its init and
//! the runner on their own, so that a failure elsewhere points at the hypervisor.

use hyp_arm_system_tests::{guest, BootConfig, BootTarget, Failure, GicVersion, Mode, Qemu};

fn bare(mode: Mode, gic_version: GicVersion, smp: u32) -> BootConfig {
    BootConfig {
        gic_version,
        smp,
        bootargs_extra: mode.bootargs(),
        target: BootTarget::BareKernel,
        ..BootConfig::default()
    }
}

#[test]
fn boots() -> Result<(), Failure> {
    let mut qemu = Qemu::boot(&bare(Mode::Boot, GicVersion::V3, 4));
    guest::check_boot_report(&mut qemu, 4)?;
    guest::check_powered_off(&mut qemu)
}

#[test]
fn powers_off() -> Result<(), Failure> {
    let mut qemu = Qemu::boot(&bare(Mode::Poweroff, GicVersion::V2, 1));
    qemu.wait_for(guest::USERSPACE, guest::BOOT_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)
}

/// Without a hypervisor the reset restarts the whole machine, and QEMU loads the kernel again.
#[test]
fn reboots() -> Result<(), Failure> {
    let mut qemu = Qemu::boot(&bare(Mode::Reboot, GicVersion::V3, 2));
    guest::check_reboots(&mut qemu, 3)
}

#[test]
fn survives_a_fault() -> Result<(), Failure> {
    let mut qemu = Qemu::boot(&bare(Mode::Fault, GicVersion::V3, 2));
    qemu.wait_for(guest::USERSPACE, guest::BOOT_TIMEOUT)?;
    qemu.wait_for(guest::FAULT_SURVIVED, guest::STEP_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)
}

//! A guest reboot (PSCI SYSTEM_RESET) makes hyp-arm start the guest again, time after time.

use hyp_arm_system_tests::{guest, BootConfig, Failure, GicVersion, Mode, Qemu};

/// The first boot and two restarts.
const BOOTS: usize = 3;

fn reboots(gic_version: GicVersion) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        smp: 2,
        bootargs_extra: Mode::Reboot.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    guest::check_reboots(&mut qemu, BOOTS)
}

#[test]
fn gic3_smp2() -> Result<(), Failure> {
    reboots(GicVersion::V3)
}

#[test]
fn gic2_smp2() -> Result<(), Failure> {
    reboots(GicVersion::V2)
}

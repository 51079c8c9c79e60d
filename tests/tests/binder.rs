//! The Android-style guest userspace under hyp-arm: init mounts Android's filesystems, gets the
//! binder, hwbinder and vndbinder devices (binderfs of a kernel with binder built in, or Debian's
//! binder_linux module) and `/bin/binder-client` gets the binder protocol version from
//! `/dev/binder`.

use hyp_arm_system_tests::{guest, BootConfig, Failure, GicVersion, Mode, Qemu};

#[test]
fn binder_client_reads_the_protocol_version_under_hyp_arm() -> Result<(), Failure> {
    let config = BootConfig {
        gic_version: GicVersion::V3,
        smp: 1,
        bootargs_extra: Mode::Poweroff.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(guest::USERSPACE, guest::BOOT_TIMEOUT)?;
    for mounted in ["/dev/shm", "/tmp", "/data"] {
        qemu.wait_for(
            &format!("android: init mounted tmpfs on {mounted}"),
            guest::STEP_TIMEOUT,
        )?;
    }
    qemu.wait_for(guest::BINDER_DEVICES, guest::STEP_TIMEOUT)?;
    guest::check_binder(&mut qemu)?;
    guest::check_powered_off(&mut qemu)
}

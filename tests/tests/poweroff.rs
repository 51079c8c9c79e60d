//! A guest power-off (PSCI SYSTEM_OFF) of the only guest powers the machine off: QEMU exits, status 0.

use hyp_arm_system_tests::{guest, BootConfig, Failure, Mode, Qemu};

#[test]
fn guest_poweroff_stops_the_machine() -> Result<(), Failure> {
    let config = BootConfig {
        bootargs_extra: Mode::Poweroff.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(guest::USERSPACE, guest::BOOT_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)
}

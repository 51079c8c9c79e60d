//! A guest read of an address that is neither RAM nor a device, and one of the hypervisor's own
//! image: hyp-arm logs each data abort and hands it to the guest, which kills the reading process
//! and carries on. The hypervisor's memory is never mapped into the guest.

use hyp_arm_system_tests::{guest, BootConfig, Failure, Mode, Qemu};

#[test]
fn unassigned_address_faults_only_the_guest_process() -> Result<(), Failure> {
    let config = BootConfig {
        smp: 2,
        bootargs_extra: Mode::Fault.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    // The guest kernel may report the abort it is given; here that is expected, not a failure.
    qemu.remove_failure_pattern("Internal error:");
    qemu.remove_failure_pattern("---[ end trace");

    qemu.wait_for(guest::USERSPACE, guest::BOOT_TIMEOUT)?;
    qemu.wait_for(guest::FAULT_SURVIVED, guest::STEP_TIMEOUT)?;
    for probed in [guest::FAULT_ADDRESS, guest::HYPERVISOR_ADDRESS] {
        // Written 0xb000000 or 0x0b000000, in either case.
        let address = format!("{probed:x}");
        let logged = qemu.find_line(|line| {
            let line = line.to_ascii_lowercase();
            line.contains("data abort") && line.contains(&address)
        });
        if logged.is_none() {
            return Err(qemu.failure(format!(
                "hyp-arm logged no line with `data abort` and `{address}`"
            )));
        }
    }
    // devmem died of SIGBUS (status 135) both times: it read nothing.
    if qemu.count("devmem exited with status 135") != 2 {
        return Err(qemu.failure("devmem was not killed by SIGBUS for both reads"));
    }
    guest::check_powered_off(&mut qemu)
}

//! Entered below EL2 (QEMU virt without `virtualization=on` starts the image at EL1), hyp-arm
//! says so on the console and stops instead of running a guest.

use std::process::Command;
use std::time::Duration;

use hyp_arm_system_tests::runner::images_from_environment;
use hyp_arm_system_tests::{Failure, Qemu, QEMU};

#[test]
fn entered_at_el1_it_explains_and_stops() -> Result<(), Failure> {
    let images = images_from_environment();
    let mut command = Command::new(QEMU);
    command
        .args([
            "-M",
            "virt,gic-version=3",
            "-cpu",
            "cortex-a57",
            "-smp",
            "1",
            "-m",
            "2G",
        ])
        .args([
            "-display", "none", "-serial", "stdio", "-monitor", "none", "-kernel",
        ])
        .arg(&images.hypervisor)
        .arg("-device")
        .arg(format!(
            "guest-loader,addr=0x48000000,kernel={},bootargs=console=ttyAMA0",
            images.guest_kernel.display()
        ));
    let mut qemu = Qemu::spawn(command);
    qemu.wait_for("must be entered at EL2", Duration::from_secs(30))?;
    qemu.wait_for("entered it at EL1", Duration::from_secs(5))?;
    // It stopped: no guest ever runs.
    if qemu.count("Booting Linux") != 0 {
        return Err(qemu.failure("a guest booted although hyp-arm was entered at EL1"));
    }
    Ok(())
}

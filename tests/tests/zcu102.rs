//! The ZCU102 board (boards/zcu102) on QEMU's `xlnx-zcu102,virtualization=on`: hyp-arm on the
//! Cadence UART console and the 64 KiB-aliased GIC-400, the secure domain printing on its own
//! UART (uart1), and the Android-style Linux guest reaching userspace on ttyPS0 (uart0, which it
//! owns by passthrough and shares with hyp-arm's log).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hyp_arm_system_tests::command_line::option_value;
use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, STEP_TIMEOUT, USERSPACE};
use hyp_arm_system_tests::{Failure, Qemu, QEMU};

/// What the secure domain prints first, on uart1 (no `[secure]` tag: hyp-arm never sees it).
const SECURE_UP: &str = "secure-domain: up";
/// Its second heartbeat: the domain keeps running and printing while android boots.
const SECURE_HEARTBEAT: &str = "secure-domain: heartbeat 2 ";
/// hyp-arm's record when the secure domain called DOMAIN_READY (android starts after it).
const SECURE_READY: &str = "[hyp] secure: ready";

fn file_from_environment(variable: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path),
        None => panic!("{variable} is not set: run the system tests through `cargo xtask test`"),
    }
}

/// Waits until the file `path` (QEMU's uart1 output) contains `text`.
fn wait_for_in_file(
    qemu: &Qemu,
    path: &PathBuf,
    text: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let start = Instant::now();
    loop {
        let contents = std::fs::read(path).unwrap_or_default();
        if String::from_utf8_lossy(&contents).contains(text) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(qemu.failure(format!(
                "uart1 ({}) did not show `{text}` within {timeout:?}; it has: {:?}",
                path.display(),
                String::from_utf8_lossy(&contents)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn both_domains_boot_each_on_its_own_uart() -> Result<(), Failure> {
    let image = file_from_environment("HYP_ARM_ZCU102_IMAGE");
    let device_tree = file_from_environment("HYP_ARM_ZCU102_DTB");
    let uart1 = file_from_environment("HYP_ARM_LOG_DIR").join("zcu102-uart1.log");
    let _ = std::fs::remove_file(&uart1);
    let mut command = Command::new(QEMU);
    command
        // 2 GiB: QEMU writes one memory range from 0 of the -m size, and the ZynqMP's low DDR
        // is 2 GiB (above that, up to 4 GiB, are devices).
        .args(["-M", "xlnx-zcu102,virtualization=on", "-m", "2G"])
        .args(["-display", "none", "-monitor", "none"])
        // The board has a DisplayPort audio device; without a backend QEMU tries ALSA.
        .args(["-audiodev", "none,id=audio"])
        // uart0 (ttyPS0, hyp-arm's console) on stdout, uart1 (the secure domain's) in a file.
        .args(["-serial", "stdio", "-serial"])
        .arg(format!("file:{}", option_value(&uart1.to_string_lossy())))
        .arg("-kernel")
        .arg(&image)
        .arg("-dtb")
        .arg(&device_tree);
    let mut qemu = Qemu::spawn(command);
    qemu.wait_for(SECURE_READY, BOOT_TIMEOUT)?;
    wait_for_in_file(&qemu, &uart1, SECURE_UP, STEP_TIMEOUT)?;
    qemu.wait_for(USERSPACE, BOOT_TIMEOUT)?;
    guest::check_binder(&mut qemu)?;
    // Four CPUs online, and the timer ticking through the stitched GICV while the guest sleeps.
    guest::check_boot_report_after_userspace(&mut qemu, 4)?;
    wait_for_in_file(&qemu, &uart1, SECURE_HEARTBEAT, STEP_TIMEOUT)?;
    // The secure domain's lines never reach uart0: hyp-arm's console multiplexer saw none.
    if qemu
        .find_line(|line| line.starts_with("[secure]"))
        .is_some()
    {
        return Err(qemu.failure("a [secure] line on uart0: the secure domain used the hypercall"));
    }
    guest::check_powered_off(&mut qemu)
}

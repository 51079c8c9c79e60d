//! Two domains side by side: the secure domain (its own RAM, the PL031 RTC, a heartbeat) and
//! the Android-style Linux guest (everything else, the console through an emulated PL011), on
//! both GIC versions, sharing CPUs or pinned, with one and four CPUs. Then what must not hurt
//! the secure domain: android rebooting, android reading its memory, android panicking.

use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, STEP_TIMEOUT, USERSPACE};
use hyp_arm_system_tests::secure::{self, Heartbeat};
use hyp_arm_system_tests::{BootConfig, BootTarget, Failure, GicVersion, Mode, Qemu};

/// Boots `target` with android in mode `boot`; both domains must come up, tagged, android must
/// see `android_cpus` CPUs and binder, the heartbeat must go on meanwhile, and android's
/// SYSTEM_OFF powers the machine off.
fn both_boot(
    gic_version: GicVersion,
    target: BootTarget,
    smp: u32,
    android_cpus: u32,
) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        smp,
        target,
        bootargs_extra: Mode::Boot.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(secure::UP, BOOT_TIMEOUT)?;
    qemu.wait_for(secure::READY, STEP_TIMEOUT)?;
    // Android's console goes through the emulated UART: its lines carry its tag.
    qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
    guest::check_binder(&mut qemu)?;
    guest::check_boot_report_after_userspace(&mut qemu, android_cpus)?;
    guest::check_powered_off(&mut qemu)?;
    // Heartbeats went on while android booted (one a second of guest time; the boot takes
    // several).
    let beats = qemu.count(secure::HEARTBEAT);
    if beats < 2 {
        return Err(qemu.failure(format!(
            "only {beats} heartbeats while android booted: the secure domain starved"
        )));
    }
    secure::check_started_once(&qemu)?;
    if qemu
        .find_line(|line| line.starts_with("[android]"))
        .is_none()
    {
        return Err(qemu.failure("no line tagged [android]"));
    }
    Ok(())
}

macro_rules! both_boot_tests {
    ($($name:ident: $gic:ident, $target:ident, $smp:literal, $android_cpus:literal;)*) => {
        $(
            #[test]
            fn $name() -> Result<(), Failure> {
                both_boot(GicVersion::$gic, BootTarget::$target, $smp, $android_cpus)
            }
        )*
    };
}

// Shared: the secure domain's vCPU shares CPU 0 with android's vCPU 0 (domains.toml). Pinned:
// the secure domain has CPU 3 to itself and android gets CPUs 0-2 (domains-pinned.toml), so
// pinning needs four CPUs.
both_boot_tests! {
    gic2_shared_smp1: V2, HypArm, 1, 1;
    gic2_shared_smp4: V2, HypArm, 4, 4;
    gic2_pinned_smp4: V2, HypArmPinned, 4, 3;
    gic3_shared_smp1: V3, HypArm, 1, 1;
    gic3_shared_smp4: V3, HypArm, 4, 4;
    gic3_pinned_smp4: V3, HypArmPinned, 4, 3;
}

/// Waits until the secure domain reported ready.
fn secure_up(qemu: &mut Qemu) -> Result<(), Failure> {
    qemu.wait_for(secure::UP, BOOT_TIMEOUT)?;
    qemu.wait_for(secure::READY, STEP_TIMEOUT)
}

/// The last heartbeat so far, or a failure if there was none.
fn last_heartbeat(qemu: &Qemu) -> Result<Heartbeat, Failure> {
    secure::last_heartbeat(qemu).ok_or_else(|| qemu.failure("no heartbeat from the secure domain"))
}

/// The most secure-domain uptime allowed between two heartbeats (one a second): a restart's RAM
/// clearing holds a shared CPU for at most about 120 ms at a time; a missed beat shows as 2 s.
const MAX_HEARTBEAT_GAP_MS: u64 = 2000;

/// Android reboots three times; only android restarts: the secure domain starts once and its
/// heartbeat count and uptime run on across every reboot.
fn android_reboots(gic_version: GicVersion, smp: u32) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        smp,
        bootargs_extra: Mode::Reboot.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    secure_up(&mut qemu)?;
    // The first boot and three reboots.
    for boot in 1..=4 {
        qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
        if boot < 4 {
            qemu.wait_for(guest::REBOOTING, STEP_TIMEOUT)?;
            qemu.wait_for("[hyp] android: SYSTEM_RESET", STEP_TIMEOUT)?;
        }
    }
    let before = last_heartbeat(&qemu)?;
    secure::check_heartbeats_continue(&mut qemu, before, 2)?;
    let resets = qemu.count("[hyp] android: SYSTEM_RESET");
    if resets < 3 {
        return Err(qemu.failure(format!("{resets} android resets, 3 expected")));
    }
    // Uptime continuous: one start, the heartbeat count kept rising through the reboots, and
    // android's restarts (1 GiB of RAM cleared each) never held the secure domain up.
    secure::check_started_once(&qemu)?;
    secure::check_never_stalled(&qemu, MAX_HEARTBEAT_GAP_MS)?;
    Ok(())
}

#[test]
fn gic3_android_reboots_secure_uptime_continues() -> Result<(), Failure> {
    android_reboots(GicVersion::V3, 4)
}

#[test]
fn gic2_android_reboots_secure_uptime_continues() -> Result<(), Failure> {
    android_reboots(GicVersion::V2, 1)
}

/// Where the secure domain's RAM lies in host memory with QEMU's `-m 2G`: hyp-arm carves from
/// the top of RAM (0x4000_0000 + 2 GiB), first the keystore channel's 64 KiB ring, then the
/// first domain of domains.toml, 16 MiB on a 2 MiB boundary. The test checks hyp-arm's log
/// says so, so that it cannot read the wrong address and pass.
const SECURE_RAM_PHYSICAL: u64 = 0xbee0_0000;

/// Android reads the secure domain's RAM through /dev/mem: a fault (SIGBUS), logged by
/// hyp-arm, and the secure domain carries on.
#[test]
fn android_cannot_read_secure_memory() -> Result<(), Failure> {
    let config = BootConfig {
        bootargs_extra: Mode::Devmem {
            address: SECURE_RAM_PHYSICAL + 0x1000,
        }
        .bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    secure_up(&mut qemu)?;
    let placed = format!("at host {SECURE_RAM_PHYSICAL:#x}");
    if qemu
        .find_line(|line| line.starts_with("[hyp] secure: ") && line.contains(&placed))
        .is_none()
    {
        return Err(qemu.failure(format!(
            "the secure domain's RAM is not {placed}: this test reads the wrong address"
        )));
    }
    let status = guest::devmem_status(&mut qemu)?;
    // 128 + SIGBUS (7): the kernel turned the injected external abort into SIGBUS.
    if status != 135 {
        return Err(qemu.failure(format!(
            "devmem of the secure domain's RAM exited with {status}, not 135 (SIGBUS)"
        )));
    }
    if qemu
        .find_line(|line| {
            line.starts_with("[hyp] android: data abort") && line.contains("0xbee01000")
        })
        .is_none()
    {
        return Err(qemu.failure("hyp-arm did not log android's read of the secure domain's RAM"));
    }
    let before = last_heartbeat(&qemu)?;
    secure::check_heartbeats_continue(&mut qemu, before, 1)?;
    secure::check_started_once(&qemu)?;
    Ok(())
}

/// Android's kernel panics (sysrq `c`) and then spins forever with interrupts off: the secure
/// domain, sharing its CPU, keeps its heartbeat.
#[test]
fn android_panic_does_not_stop_the_secure_domain() -> Result<(), Failure> {
    let config = BootConfig {
        smp: 1,
        bootargs_extra: Mode::Panic.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.remove_failure_pattern("Kernel panic");
    qemu.remove_failure_pattern("Internal error:");
    qemu.remove_failure_pattern("---[ end trace");
    secure_up(&mut qemu)?;
    qemu.wait_for("Kernel panic", BOOT_TIMEOUT)?;
    let at_panic = last_heartbeat(&qemu)?;
    secure::check_heartbeats_continue(&mut qemu, at_panic, 3)?;
    secure::check_started_once(&qemu)?;
    secure::check_never_stalled(&qemu, MAX_HEARTBEAT_GAP_MS)?;
    Ok(())
}

/// The keystore channel's frontend: Linux's virtio-mmio and vsock drivers bind the virtio-vsock
/// device hyp-arm emulates for android (feature negotiation, three queues, DRIVER_OK).
#[test]
fn android_drives_the_emulated_virtio_vsock_device() -> Result<(), Failure> {
    let config = BootConfig {
        smp: 2,
        bootargs_extra: Mode::VsockProbe.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
    let device = qemu.wait_for_line("[android] HYPTEST-VIRTIO device ", STEP_TIMEOUT)?;
    // Only hyp-arm's device: QEMU's own virtio-mmio transports are empty (device ID 0) and are
    // not registered. Status 0xf: ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK.
    if device != "0x0013 status 0x0000000f" {
        return Err(qemu.failure(format!(
            "the virtio device is `{device}`, not a live vsock device (0x0013 status 0x0000000f)"
        )));
    }
    qemu.wait_for("[android] HYPTEST-VIRTIO-DONE", STEP_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)
}

//! The goldfish board (boards/goldfish, docs/GOLDFISH.md): android sees the goldfish battery,
//! events keypad, RTC and TTY that hyp-arm emulates with drivers/goldfish, and the hypervisor
//! console's command lines (Ctrl-] `:` ... Enter) change their state.
//!
//! Debian's kernel has no goldfish drivers, so android reads and writes the registers with
//! busybox `devmem` (the drivers' own accesses: 32-bit loads and stores), which exercises the
//! whole path: the guest's device tree, the trapped window, the register models, the console
//! commands and the interrupts' requests. With `HYP_ARM_ANDROID_KERNEL` naming a kernel built
//! with the goldfish drivers, `goldfish_drivers_see_the_devices` checks them through sysfs,
//! /dev/input and /dev/ttyGF0 as well.

use std::path::PathBuf;
use std::thread::sleep;
use std::time::Duration;

use hyp_arm_system_tests::command_line::{self, Console, Images};
use hyp_arm_system_tests::guest::{BOOT_TIMEOUT, STEP_TIMEOUT};
use hyp_arm_system_tests::runner::images_from_environment;
use hyp_arm_system_tests::{BootConfig, Failure, GicVersion, Qemu};

/// Ctrl-], the console's escape byte (boards/goldfish/domains.toml).
const ESCAPE: u8 = 0x1d;
/// boards/goldfish/domains.toml's windows.
const BATTERY: u64 = 0x090c_0000;
const KEYPAD: u64 = 0x0904_0000;
const RTC: u64 = 0x090d_0000;
const TTY: u64 = 0x090e_0000;

fn boot(kernel: Option<PathBuf>) -> Qemu {
    let Some(hypervisor) = std::env::var_os("HYP_ARM_GOLDFISH_IMAGE") else {
        panic!(
            "HYP_ARM_GOLDFISH_IMAGE is not set: run the system tests through `cargo xtask test`"
        );
    };
    let defaults = images_from_environment();
    let images = Images {
        hypervisor: PathBuf::from(hypervisor),
        guest_kernel: kernel.unwrap_or(defaults.guest_kernel),
        guest_initrd: defaults.guest_initrd,
    };
    let config = BootConfig {
        gic_version: GicVersion::V2,
        smp: 2,
        ..BootConfig::default()
    };
    Qemu::spawn(command_line::command(&config, &images, Console::Captured))
}

/// Types `text` a few bytes at a time: the emulated PL011's receive FIFO holds 32 bytes, and a
/// whole line at once overruns it before the guest's shell drains it.
fn type_slowly(qemu: &mut Qemu, text: &[u8]) -> Result<(), Failure> {
    for chunk in text.chunks(8) {
        qemu.send(chunk)?;
        sleep(Duration::from_millis(40));
    }
    Ok(())
}

/// Runs `command` in android's shell and returns what it printed after `tag=` (the typed
/// line echoes `tag=$(`, never `tag=` followed by the output).
fn shell(qemu: &mut Qemu, tag: &str, command: &str) -> Result<String, Failure> {
    type_slowly(qemu, format!("echo {tag}=$({command})\n").as_bytes())?;
    qemu.wait_for_line(&format!("[android] {tag}="), STEP_TIMEOUT)
}

fn console_command(qemu: &mut Qemu, line: &str) -> Result<(), Failure> {
    qemu.send(&[ESCAPE, b':'])?;
    type_slowly(qemu, line.as_bytes())?;
    qemu.send(b"\r")?;
    qemu.wait_for(&format!("[hyp] command `{line}`: done"), STEP_TIMEOUT)
}

/// 2020-09-13 in UNIX nanoseconds: any RTC following a real clock reads more; one counting from
/// power-on reads far less.
const AFTER_2020_NANOSECONDS: u64 = 1_600_000_000_000_000_000;

/// The RTC's time from `devmem` reads of TIME_LOW then TIME_HIGH (`0x... 0x...`).
fn rtc_nanoseconds(halves: &str) -> Option<u64> {
    let mut words = halves
        .split_whitespace()
        .map(|word| u64::from_str_radix(word.strip_prefix("0x")?, 16).ok());
    let low = words.next()??;
    let high = words.next()??;
    Some(high << 32 | low)
}

fn expect(qemu: &Qemu, what: &str, got: &str, wanted: &str) -> Result<(), Failure> {
    if got.trim() == wanted {
        Ok(())
    } else {
        Err(qemu.failure(format!("{what}: read `{got}`, expected `{wanted}`")))
    }
}

#[test]
fn goldfish_registers_follow_the_console() -> Result<(), Failure> {
    let mut qemu = boot(None);
    qemu.wait_for("[android] HYPTEST-USERSPACE", BOOT_TIMEOUT)?;
    qemu.wait_for("[android] / #", BOOT_TIMEOUT)?;
    let nodes = shell(
        &mut qemu,
        "NODES",
        "cat /proc/device-tree/*@90[4cde]0000/compatible | tr '\\0' ' '",
    )?;
    for compatible in [
        "google,goldfish-events-keypad",
        "google,goldfish-battery",
        "google,goldfish-rtc",
        "google,goldfish-tty",
    ] {
        if !nodes.contains(compatible) {
            return Err(qemu.failure(format!(
                "android's device tree has no {compatible}: {nodes}"
            )));
        }
    }

    // Battery: the console sets capacity and mains, the guest reads them.
    console_command(&mut qemu, "battery capacity 42")?;
    console_command(&mut qemu, "battery ac off")?;
    let capacity = shell(
        &mut qemu,
        "CAPACITY",
        &format!("devmem {:#x} 32", BATTERY + 0x18),
    )?;
    expect(&qemu, "battery capacity", &capacity, "0x0000002A")?;
    let ac = shell(&mut qemu, "AC", &format!("devmem {:#x} 32", BATTERY + 0x08))?;
    expect(&qemu, "AC online", &ac, "0x00000000")?;

    // Keypad: the probe's name page, then a power key press read as (type, code, value).
    type_slowly(&mut qemu, format!("devmem {KEYPAD:#x} 32 0\n").as_bytes())?;
    let length = shell(
        &mut qemu,
        "NAMELEN",
        &format!("devmem {:#x} 32", KEYPAD + 4),
    )?;
    expect(&qemu, "keypad name length", &length, "0x00000007")?;
    console_command(&mut qemu, "key power")?;
    let read = format!("devmem {KEYPAD:#x} 32");
    let event = shell(&mut qemu, "EVENT", &format!("{read}; {read}; {read}"))?;
    let words: Vec<&str> = event.split_whitespace().collect();
    expect(
        &qemu,
        "key event",
        &words.join(" "),
        "0x00000001 0x00000074 0x00000001",
    )?;

    // RTC: two reads of the low word a second apart differ (the clock runs).
    let first = shell(&mut qemu, "RTC1", &format!("devmem {RTC:#x} 32"))?;
    // TIME_LOW counts nanoseconds: a shell round trip later it has moved.
    let second = shell(&mut qemu, "RTC2", &format!("devmem {RTC:#x} 32"))?;
    if first == second {
        return Err(qemu.failure(format!("the RTC did not move: {first} then {second}")));
    }
    // It is UNIX time, from the secure domain's PL031 (TRUSTED_TIME_SET), not the time since
    // power-on: TIME_LOW latches TIME_HIGH, so read them in that order in one command.
    let halves = shell(
        &mut qemu,
        "RTCTIME",
        &format!("devmem {RTC:#x} 32; devmem {:#x} 32", RTC + 4),
    )?;
    match rtc_nanoseconds(&halves) {
        Some(nanoseconds) if nanoseconds > AFTER_2020_NANOSECONDS => {}
        _ => {
            return Err(qemu.failure(format!(
                "the RTC's TIME_LOW, TIME_HIGH read `{halves}`: not a time after 2020, so the \
                 secure domain's trusted time did not reach it"
            )))
        }
    }

    // TTY: PUT_CHAR goes to the console as android's output.
    type_slowly(
        &mut qemu,
        format!("for c in 0x47 0x46 0x21 0x0a; do devmem {TTY:#x} 32 $c; done\n").as_bytes(),
    )?;
    qemu.wait_for("[android] GF!", STEP_TIMEOUT)?;

    // A byte access to a 32-bit register is the guest's fault: a bus error, logged, no panic.
    type_slowly(
        &mut qemu,
        format!("devmem {:#x} 8\n", BATTERY + 1).as_bytes(),
    )?;
    qemu.wait_for("battery refused an access", STEP_TIMEOUT)?;
    qemu.wait_for("[android] Bus error", STEP_TIMEOUT)?;
    let alive = shell(&mut qemu, "ALIVE", "echo yes")?;
    expect(&qemu, "the shell after the fault", &alive, "yes")
}

/// With a kernel that has the goldfish drivers (`HYP_ARM_ANDROID_KERNEL`), they bind and work.
#[test]
fn goldfish_drivers_see_the_devices() -> Result<(), Failure> {
    let kernel = std::env::var_os("HYP_ARM_ANDROID_KERNEL").expect(
        "HYP_ARM_ANDROID_KERNEL is not set: run the system tests through `cargo xtask test`, \
         which builds the Android-style kernel (cargo xtask android-kernel)",
    );
    let mut qemu = boot(Some(PathBuf::from(kernel)));
    qemu.wait_for("[android] HYPTEST-USERSPACE", BOOT_TIMEOUT)?;
    qemu.wait_for("[android] / #", BOOT_TIMEOUT)?;
    console_command(&mut qemu, "battery capacity 42")?;
    console_command(&mut qemu, "battery ac off")?;
    let capacity = shell(
        &mut qemu,
        "CAPACITY",
        "cat /sys/class/power_supply/battery/capacity",
    )?;
    expect(&qemu, "battery capacity", &capacity, "42")?;
    let ac = shell(&mut qemu, "AC", "cat /sys/class/power_supply/ac/online")?;
    expect(&qemu, "AC online", &ac, "0")?;
    let since_epoch = shell(&mut qemu, "EPOCH", "cat /sys/class/rtc/rtc0/since_epoch")?;
    match since_epoch.trim().parse::<u64>() {
        Ok(seconds) if seconds > AFTER_2020_NANOSECONDS / 1_000_000_000 => {}
        _ => {
            return Err(qemu.failure(format!(
                "rtc0 since_epoch is `{since_epoch}`, not a time after 2020 (trusted time)"
            )))
        }
    }
    // The key press arrives on the keypad's event device: 24-byte input_events on arm64.
    // A reader in the background; the key goes in once it has the device open (evdev drops
    // events nobody has open), and the dump is read once the reader has its two events.
    type_slowly(
        &mut qemu,
        b"(timeout 20 hexdump -n 48 -e '1/1 \"%02x\"' /dev/input/event0; echo KEYDUMP) > /tmp/k &\n",
    )?;
    shell(
        &mut qemu,
        "READER",
        "until ls -l /proc/*/fd 2>/dev/null | grep -q input/event0; do :; done; echo open",
    )?;
    console_command(&mut qemu, "key power")?;
    let dump = shell(
        &mut qemu,
        "KEYS",
        "until grep -q KEYDUMP /tmp/k; do :; done; cat /tmp/k",
    )?;
    // struct input_event: 16 bytes of time, type 1 (EV_KEY), code 116 (0x74), value 1.
    if !dump.contains("01007400") {
        return Err(qemu.failure(format!("no KEY_POWER on /dev/input/event0: {dump}")));
    }
    type_slowly(&mut qemu, b"echo hello > /dev/ttyGF0\n")?;
    qemu.wait_for("[android] hello", STEP_TIMEOUT)
}

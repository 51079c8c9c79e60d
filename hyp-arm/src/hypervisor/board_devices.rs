//! Board-emulated devices at run time (`vdev::emulated`): the plan's `[[virtual_device]]`s
//! matched at boot with the register models the board supplies, trapped accesses to their
//! windows served by those models, their interrupt requests injected as virtual SPIs, and the
//! console's command lines handed to them.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{cpu, GuestRegisters};
use crate::channel::guest_memory::GuestMemory;
use crate::console::{self, Shown};
use crate::domain::plan::{VirtualDevicePlan, MAX_VIRTUAL_DEVICES};
use crate::hyp_log;
use crate::platform::MemoryRange;
use crate::trap::exit::{load_value, DataAbort};
use crate::vdev::emulated::{self, CommandError, DeviceContext, EmulatedDevice};
use crate::vdev::trusted_time::{self, PublishError};

use super::board::BoardConfig;
use super::boot::machine;
use super::channels::DomainMemory;
use super::domain::Domain;
use super::exits::log_fault;
use super::{injection, interrupts};

/// A declared device with the board's model for it.
#[derive(Clone, Copy)]
pub struct BoardDeviceRuntime {
    pub plan: &'static VirtualDevicePlan,
    pub device: &'static dyn EmulatedDevice,
}

static DEVICES: spin::Once<heapless::Vec<BoardDeviceRuntime, MAX_VIRTUAL_DEVICES>> =
    spin::Once::new();

/// Matches the plan's declarations with the board's models, before the domains are built (their
/// device trees and virtual SPIs include only matched devices). A declaration the board has no
/// model for is logged and left out.
pub fn init(board: &'static BoardConfig) {
    DEVICES.call_once(|| {
        let mut devices = heapless::Vec::new();
        for plan in board.plan.virtual_devices {
            match emulated::find_device(board.emulated_devices, plan.name) {
                Some(device) => {
                    if devices.push(BoardDeviceRuntime { plan, device }).is_err() {
                        hyp_log!("virtual device {}: too many, left out", plan.name);
                    }
                }
                None => hyp_log!(
                    "virtual device {} ({}) declared in {} for {}: board {} has no model for it, \
                     left out",
                    plan.name,
                    plan.compatible,
                    board.plan.source,
                    plan.domain,
                    board.name
                ),
            }
        }
        devices
    });
}

/// The devices domain `name` sees.
pub fn devices_of(name: &str) -> impl Iterator<Item = &'static BoardDeviceRuntime> + '_ {
    DEVICES
        .get()
        .map(|devices| devices.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(move |device| device.plan.domain == name)
}

/// Nanoseconds to add to the counter's time to get UNIX time, once the secure domain published
/// trusted time (TRUSTED_TIME_SET); 0 until then (the RTC then reads the time since the counter
/// started).
static UNIX_TIME_OFFSET_NANOSECONDS: AtomicU64 = AtomicU64::new(0);

/// The system counter's time in nanoseconds.
fn counter_nanoseconds() -> u64 {
    trusted_time::counter_nanoseconds(cpu::counter_ticks(), cpu::counter_frequency())
}

/// UNIX time now, as the board's emulated clocks see it.
fn unix_time_nanoseconds() -> u64 {
    trusted_time::unix_time_nanoseconds(
        counter_nanoseconds(),
        UNIX_TIME_OFFSET_NANOSECONDS.load(Ordering::Acquire),
    )
}

/// Takes `unix_nanoseconds` as the time now (the caller checked that a secure domain gave it).
/// A later call replaces the offset, so the secure domain may correct the time.
pub fn publish_trusted_time(unix_nanoseconds: u64) -> Result<(), PublishError> {
    let offset = trusted_time::offset_for(unix_nanoseconds, counter_nanoseconds())?;
    UNIX_TIME_OFFSET_NANOSECONDS.store(offset, Ordering::Release);
    Ok(())
}

/// What a device may reach while serving `domain`.
struct Context<'a> {
    domain: &'a Domain,
    memory: DomainMemory,
}

impl DeviceContext for Context<'_> {
    fn memory(&self) -> &dyn GuestMemory {
        &self.memory
    }

    fn console_write(&self, bytes: &[u8]) {
        let _ = console::write_domain_bytes(self.domain.plan_index, bytes);
    }

    fn unix_time_nanoseconds(&self) -> u64 {
        unix_time_nanoseconds()
    }
}

/// Serves a trapped access to one of `domain`'s board devices. Returns false when the address is
/// in none of their windows (the caller goes on with its other emulated regions).
pub fn emulate_access(
    domain: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    abort: &DataAbort,
    instruction_length: u64,
) -> bool {
    let Some(runtime) = devices_of(domain.name())
        .find(|device| MemoryRange::new(device.plan.address, device.plan.size).contains(abort.ipa))
    else {
        return false;
    };
    let offset = abort.ipa - runtime.plan.address;
    let Some(access) = abort.access else {
        log_fault(
            domain,
            format_args!(
                "vCPU {vcpu}: access to {} at offset {offset:#x} (PC {:#x}) without a syndrome \
                 (load/store pair or writeback): injecting a data abort",
                runtime.plan.name, registers.elr
            ),
        );
        injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
        return true;
    };
    let context = Context {
        domain,
        memory: DomainMemory::new(domain),
    };
    let result = if access.is_write {
        runtime.device.write(
            &context,
            offset,
            access.width,
            registers.get(access.register),
        )
    } else {
        runtime
            .device
            .read(&context, offset, access.width)
            .map(|value| registers.set(access.register, load_value(&access, value)))
    };
    match result {
        Ok(()) => registers.elr += instruction_length,
        Err(error) => {
            log_fault(
                domain,
                format_args!(
                    "vCPU {vcpu}: {} refused an access (PC {:#x}): {error}: injecting a data abort",
                    runtime.plan.name, registers.elr
                ),
            );
            injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
        }
    }
    deliver_interrupt(domain, runtime);
    true
}

/// Injects the device's SPI if it asked for it.
fn deliver_interrupt(domain: &Domain, runtime: &BoardDeviceRuntime) {
    if !runtime.device.take_interrupt() {
        return;
    }
    match domain.vgic.lock().inject(0, runtime.plan.interrupt) {
        Ok(kicks) => interrupts::kick_vcpus(domain, kicks),
        Err(error) => hyp_log!(
            "{}: {} interrupt not delivered: {}",
            domain.name(),
            runtime.plan.name,
            Shown(&error)
        ),
    }
}

/// Back to power-on state for `domain`'s devices (the domain restarts).
pub fn reset_domain(domain: &Domain) {
    for runtime in devices_of(domain.name()) {
        runtime.device.reset();
    }
}

/// A console command line (`Ctrl-]` `:` ... Enter): offered to every board device in turn; the
/// first that takes it carries it out. The answer is logged.
pub fn run_command(line: &str) {
    let Some(words) = emulated::split_words::<8>(line) else {
        hyp_log!("command: too many words: {}", line);
        return;
    };
    if words.is_empty() {
        return;
    }
    let devices = DEVICES
        .get()
        .map(|devices| devices.as_slice())
        .unwrap_or(&[]);
    for runtime in devices {
        let Some(domain) = machine()
            .domains
            .iter()
            .find(|domain| domain.name() == runtime.plan.domain)
        else {
            continue;
        };
        let context = Context {
            domain,
            memory: DomainMemory::new(domain),
        };
        match runtime.device.command(&context, &words) {
            Err(CommandError::NotMine) => continue,
            Err(CommandError::Usage(usage)) => {
                hyp_log!("command `{}`: {}", line, usage);
                return;
            }
            Ok(()) => {
                hyp_log!("command `{}`: done ({})", line, runtime.plan.name);
                deliver_interrupt(domain, runtime);
                return;
            }
        }
    }
    hyp_log!("command `{}`: no device takes it", line);
}

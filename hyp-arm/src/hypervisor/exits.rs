//! Handling of synchronous guest exits: SMCCC calls (PSCI), MMIO traps into the virtual GIC,
//! trapped system registers, and faults on memory the guest does not own.

use core::sync::atomic::Ordering;

use crate::arch::{cpu, smc, GuestRegisters};
use crate::console::Shown;
use crate::hyp_log;
use crate::platform::psci;
use crate::trap::exit::{
    load_value, DataAbort, Exit, SystemRegisterAccess, ICC_ASGI1R_EL1, ICC_SGI0R_EL1, ICC_SGI1R_EL1,
};
use crate::trap::smccc::{self, status, Call};
use crate::vdev::trusted_time;

use crate::domain::plan::{Role, SystemOffAction};

use super::boot::machine;
use super::domain::Domain;
use super::injection;
use super::interrupts;
use super::{board_devices, channels, scheduler, virtual_uart};

/// A synchronous exception from the vCPU loaded on this CPU.
pub fn handle_synchronous_exit(registers: &mut GuestRegisters) {
    let (esr, far, hpfar) = cpu::exit_syndrome();
    let instruction_length = if esr & (1 << 25) != 0 { 4 } else { 2 };
    let Some((guest, vcpu)) = scheduler::current_vcpu() else {
        hyp_log!(
            "synchronous exit with no vCPU loaded on CPU {}",
            cpu::cpu_index()
        );
        return;
    };
    match Exit::decode(esr, far, hpfar) {
        Exit::Hypercall { .. } => smccc_call(guest, vcpu, registers),
        Exit::SecureMonitorCall { .. } => {
            // A trapped SMC has not advanced the PC (unlike HVC).
            registers.elr += instruction_length;
            smccc_call(guest, vcpu, registers);
        }
        Exit::DataAbort(abort) => {
            // The virtual GIC first: guests trap on it far more often than on the others.
            if !emulate_gic_access(guest, vcpu, registers, &abort, instruction_length)
                && !virtual_uart::emulate_access(guest, vcpu, registers, &abort, instruction_length)
                && !channels::emulate_access(guest, vcpu, registers, &abort, instruction_length)
                && !board_devices::emulate_access(
                    guest,
                    vcpu,
                    registers,
                    &abort,
                    instruction_length,
                )
            {
                unassigned_access(guest, vcpu, registers, &abort)
            }
        }
        Exit::InstructionAbort {
            ipa,
            virtual_address,
        } => {
            log_fault(guest, format_args!(
                "vCPU {vcpu} fetched an instruction from IPA {ipa:#x} (VA {virtual_address:#x}, PC {:#x}), \
                 which is not its RAM: injecting an instruction abort",
                registers.elr
            ));
            injection::inject_instruction_abort(registers, virtual_address);
        }
        Exit::SystemRegister(access) => {
            system_register(guest, vcpu, registers, &access, instruction_length)
        }
        Exit::WaitForInterrupt => {
            registers.elr += instruction_length;
            scheduler::wait_for_interrupt();
        }
        Exit::Unhandled { class, syndrome } => {
            log_fault(guest, format_args!(
                "vCPU {vcpu} trapped with exception class {class:#x} (ISS {syndrome:#x}) at PC {:#x}: \
                 injecting an undefined instruction",
                registers.elr
            ));
            injection::inject_undefined(registers);
        }
    }
}

/// An SError from the guest: it is the guest's problem, reported to it as a virtual SError.
pub fn handle_guest_system_error(registers: &GuestRegisters) {
    let Some((guest, _)) = scheduler::current_vcpu() else {
        return;
    };
    log_fault(
        guest,
        format_args!(
            "SError while vCPU {} ran (PC {:#x})",
            cpu::cpu_index(),
            registers.elr
        ),
    );
}

fn smccc_call(guest: &Domain, vcpu: usize, registers: &mut GuestRegisters) {
    let mut arguments = [0; 7];
    arguments.copy_from_slice(&registers.x[..7]);
    let call = Call::decode_registers(&arguments);
    let result = match call {
        Call::PsciVersion => smccc::PSCI_VERSION_1_1,
        Call::SmcccVersion => smccc::SMCCC_VERSION_1_1,
        Call::PsciFeatures { function_id } => smccc::psci_features(function_id),
        Call::SmcccArchFeatures { .. } => status::NOT_SUPPORTED,
        Call::MigrateInfoType => smccc::MIGRATE_NOT_REQUIRED,
        Call::CpuSuspend { .. } => {
            // Every power state is treated as standby: return at once; a pending interrupt is
            // taken right after, which PSCI allows for both standby and power-down states.
            status::SUCCESS
        }
        Call::CpuOn {
            target_mpidr,
            entry_point,
            context,
        } => match smccc::vcpu_of_mpidr(target_mpidr, guest.vcpu_count) {
            Some(target) if guest.ram.contains(entry_point) => {
                let result = guest.vcpus[target].request_on(entry_point, context);
                interrupts::kick_physical_cpu(guest.physical_cpu_of(target));
                result
            }
            Some(_) => status::INVALID_PARAMETERS,
            None => status::INVALID_PARAMETERS,
        },
        Call::CpuOff => scheduler::stop_current_vcpu(),
        Call::AffinityInfo {
            target_mpidr,
            lowest_level,
        } => {
            match (
                smccc::vcpu_of_mpidr(target_mpidr, guest.vcpu_count),
                lowest_level,
            ) {
                (Some(target), 0) => guest.vcpus[target].affinity_info(),
                _ => status::INVALID_PARAMETERS,
            }
        }
        Call::SystemOff => match guest.plan.on_system_off {
            SystemOffAction::StopDomain => guest.stop(vcpu),
            SystemOffAction::PowerOffMachine => {
                // Guests get PSCI from hyp-arm whatever the host has; only powering the machine
                // off needs the host's, and a spin-table board (the Pi 4) has none to call.
                if let Some(why) = psci::why_not_callable(machine().platform.psci) {
                    hyp_log!(
                        "{}: SYSTEM_OFF from vCPU {}: cannot power the machine off ({}): \
                         stopping the domain instead",
                        guest.name(),
                        vcpu,
                        why
                    );
                    guest.stop(vcpu)
                }
                hyp_log!(
                    "{}: SYSTEM_OFF from vCPU {}: powering off",
                    guest.name(),
                    vcpu
                );
                smc::call(smccc::function::SYSTEM_OFF, 0, 0, 0);
                // The firmware did not power off.
                status::INTERNAL_FAILURE
            }
        },
        Call::SystemReset => guest.reset(vcpu),
        Call::HypVersion => smccc::hypercall::VERSION,
        Call::DomainInfo => {
            registers.x[1] = guest.plan_index as u64;
            registers.x[2] = guest.vcpu_count as u64;
            registers.x[3] = match guest.plan.role {
                Role::Secure => 0,
                Role::Rich => 1,
                Role::Driver => 2,
            };
            status::SUCCESS
        }
        Call::ConsoleWrite { bytes, length } => {
            match crate::console::write_domain_bytes(guest.plan_index, &bytes[..length]) {
                Ok(()) => status::SUCCESS,
                Err(error) => {
                    log_fault(
                        guest,
                        format_args!("vCPU {vcpu}: CONSOLE_WRITE refused: {error}"),
                    );
                    status::INVALID_PARAMETERS
                }
            }
        }
        Call::ConsoleWriteInvalid { length } => {
            log_fault(
                guest,
                format_args!("vCPU {vcpu}: CONSOLE_WRITE of {length} bytes refused (1 to 40)"),
            );
            status::INVALID_PARAMETERS
        }
        Call::DomainReady => {
            guest.report_ready();
            status::SUCCESS
        }
        Call::Yield => {
            scheduler::yield_current();
            status::SUCCESS
        }
        Call::ChannelNotify { channel } => {
            if channels::backend_doorbell(guest, channel) {
                status::SUCCESS
            } else {
                log_fault(
                    guest,
                    format_args!(
                        "vCPU {vcpu}: CHANNEL_NOTIFY for channel {channel}, which it does not have"
                    ),
                );
                status::INVALID_PARAMETERS
            }
        }
        Call::TrustedTimeSet { unix_nanoseconds } => {
            trusted_time_set(guest, vcpu, unix_nanoseconds)
        }
        Call::Unknown { function_id } => {
            if !smccc::is_standard_discovery_call(function_id) {
                log_fault(
                    guest,
                    format_args!(
                        "vCPU {vcpu} made unknown SMCCC call {function_id:#x}: NOT_SUPPORTED"
                    ),
                );
            }
            status::NOT_SUPPORTED
        }
    };
    registers.x[0] = result;
}

/// TRUSTED_TIME_SET: only a secure-role domain's clock is trusted; anyone else's call is
/// refused and logged against it.
fn trusted_time_set(guest: &Domain, vcpu: usize, unix_nanoseconds: u64) -> u64 {
    if !trusted_time::may_publish(guest.plan.role) {
        log_fault(
            guest,
            format_args!(
                "vCPU {vcpu}: TRUSTED_TIME_SET refused: only a secure-role domain may set \
                 trusted time (this one's role is {:?})",
                guest.plan.role
            ),
        );
        return status::DENIED;
    }
    match board_devices::publish_trusted_time(unix_nanoseconds) {
        Ok(()) => {
            hyp_log!(
                "{}: trusted time set to {} s (UNIX)",
                guest.name(),
                unix_nanoseconds / 1_000_000_000
            );
            status::SUCCESS
        }
        Err(error) => {
            log_fault(
                guest,
                format_args!("vCPU {vcpu}: TRUSTED_TIME_SET refused: {error}"),
            );
            status::INVALID_PARAMETERS
        }
    }
}

/// An access to the virtual GIC's distributor or redistributors, emulated; `false` if `abort` is
/// not one.
fn emulate_gic_access(
    guest: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    abort: &DataAbort,
    instruction_length: u64,
) -> bool {
    let Some(access) = abort.access else {
        return false;
    };
    let Some(region) = machine().gic.emulated_region(abort.ipa, guest.vcpu_count) else {
        return false;
    };
    let value = registers.get(access.register);
    match interrupts::emulate_mmio(guest, vcpu, region, access.width, access.is_write, value) {
        Ok(read_value) => {
            if !access.is_write {
                registers.set(access.register, load_value(&access, read_value));
            }
            registers.elr += instruction_length;
        }
        Err(error) => {
            log_fault(guest, format_args!(
                "vCPU {vcpu}: {} of {} bytes at IPA {:#x} (PC {:#x}) refused by the virtual GIC: {error}",
                if access.is_write { "write" } else { "read" },
                access.width,
                abort.ipa,
                registers.elr
            ));
            injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
        }
    }
    true
}

/// An access that no emulated device claims and that is not the domain's RAM: the guest gets a
/// synchronous external abort.
fn unassigned_access(
    guest: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    abort: &DataAbort,
) {
    log_fault(
        guest,
        format_args!(
        "data abort: vCPU {vcpu} {} IPA {:#x} (VA {:#x}, PC {:#x}), which is neither its RAM nor \
         one of its devices: injecting a synchronous external abort",
        if abort.is_write { "wrote" } else { "read" },
        abort.ipa,
        abort.virtual_address,
        registers.elr
    ),
    );
    injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
}

fn system_register(
    guest: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    access: &SystemRegisterAccess,
    instruction_length: u64,
) {
    let is_sgi = access.is(ICC_SGI1R_EL1) || access.is(ICC_ASGI1R_EL1) || access.is(ICC_SGI0R_EL1);
    if is_sgi && !access.is_read {
        interrupts::send_guest_sgi(guest, vcpu, registers.get(access.register));
        registers.elr += instruction_length;
        return;
    }
    log_fault(guest, format_args!(
        "vCPU {vcpu} accessed system register S{}_{}_C{}_C{}_{} at PC {:#x}: injecting an undefined instruction",
        access.op0, access.op1, access.crn, access.crm, access.op2, registers.elr
    ));
    injection::inject_undefined(registers);
}

/// Logs a guest fault while the budget lasts, so a hostile guest cannot flood the console.
pub fn log_fault(guest: &Domain, message: core::fmt::Arguments) {
    let remaining = guest.fault_log_budget.load(Ordering::Relaxed);
    if remaining == 0 {
        return;
    }
    guest
        .fault_log_budget
        .store(remaining - 1, Ordering::Relaxed);
    hyp_log!("{}: {}", guest.name(), Shown(&message));
    if remaining == 1 {
        hyp_log!(
            "{}: further faults are handled but no longer logged",
            guest.name()
        );
    }
}

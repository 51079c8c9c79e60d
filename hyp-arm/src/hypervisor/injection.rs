//! Injecting synchronous exceptions into the guest: what it sees when it touches memory it does
//! not own or executes something the hypervisor refuses (Arm ARM D1.10: exception entry).

use crate::arch::{cpu, GuestRegisters};

/// ESR exception classes as the guest's EL1 sees them.
const CLASS_UNKNOWN: u64 = 0x00;
const CLASS_INSTRUCTION_ABORT_LOWER: u64 = 0x20;
const CLASS_INSTRUCTION_ABORT_SAME: u64 = 0x21;
const CLASS_DATA_ABORT_LOWER: u64 = 0x24;
const CLASS_DATA_ABORT_SAME: u64 = 0x25;
/// Fault status "synchronous external abort, not on a translation table walk".
const SYNCHRONOUS_EXTERNAL_ABORT: u64 = 0x10;
const ESR_IL: u64 = 1 << 25;
/// PSTATE for the guest's exception handler: EL1h with D, A, I and F masked.
const HANDLER_PSTATE: u64 = 0x3c5;

/// Where the guest was when it trapped, which decides the vector and the ESR class.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    El1WithSpEl1,
    El1WithSpEl0,
    El0Aarch64,
    El0Aarch32,
}

fn origin(spsr: u64) -> Origin {
    if spsr & 0x10 != 0 {
        return Origin::El0Aarch32;
    }
    match spsr & 0xf {
        0b0101 => Origin::El1WithSpEl1,
        0b0100 => Origin::El1WithSpEl0,
        _ => Origin::El0Aarch64,
    }
}

fn vector_offset(origin: Origin) -> u64 {
    match origin {
        Origin::El1WithSpEl0 => 0x000,
        Origin::El1WithSpEl1 => 0x200,
        Origin::El0Aarch64 => 0x400,
        Origin::El0Aarch32 => 0x600,
    }
}

fn is_from_el0(origin: Origin) -> bool {
    matches!(origin, Origin::El0Aarch64 | Origin::El0Aarch32)
}

fn inject(registers: &mut GuestRegisters, esr: u64, far: u64) {
    let origin = origin(registers.spsr);
    cpu::set_guest_exception_registers(esr, far, registers.elr, registers.spsr);
    registers.elr = cpu::guest_vector_base() + vector_offset(origin);
    registers.spsr = HANDLER_PSTATE;
}

/// A synchronous external abort on a data access to `virtual_address`.
pub fn inject_data_abort(registers: &mut GuestRegisters, virtual_address: u64, is_write: bool) {
    let class = if is_from_el0(origin(registers.spsr)) {
        CLASS_DATA_ABORT_LOWER
    } else {
        CLASS_DATA_ABORT_SAME
    };
    let write_not_read = if is_write { 1 << 6 } else { 0 };
    inject(
        registers,
        (class << 26) | ESR_IL | write_not_read | SYNCHRONOUS_EXTERNAL_ABORT,
        virtual_address,
    );
}

/// A synchronous external abort on an instruction fetch from `virtual_address`.
pub fn inject_instruction_abort(registers: &mut GuestRegisters, virtual_address: u64) {
    let class = if is_from_el0(origin(registers.spsr)) {
        CLASS_INSTRUCTION_ABORT_LOWER
    } else {
        CLASS_INSTRUCTION_ABORT_SAME
    };
    inject(
        registers,
        (class << 26) | ESR_IL | SYNCHRONOUS_EXTERNAL_ABORT,
        virtual_address,
    );
}

/// An undefined-instruction exception for the instruction at ELR.
pub fn inject_undefined(registers: &mut GuestRegisters) {
    inject(registers, (CLASS_UNKNOWN << 26) | ESR_IL, 0);
}

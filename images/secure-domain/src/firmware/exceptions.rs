//! What the vector table and the entry code call: the IRQ handler, the report of an unexpected
//! exception, and parking the domain for good.

use core::arch::asm;

use crate::console::Console;
use crate::{gic, heartbeat, keystore_channel};

/// Interrupt IDs at or above this are special (1020-1023: spurious and friends).
const FIRST_SPECIAL_INTID: u32 = 1020;

/// Names of the 16 vectors (Arm ARM D1.10.2), for the report.
const VECTOR_NAMES: [&str; 16] = [
    "synchronous, current EL with SP_EL0",
    "IRQ, current EL with SP_EL0",
    "FIQ, current EL with SP_EL0",
    "SError, current EL with SP_EL0",
    "synchronous, current EL with SP_ELx",
    "IRQ, current EL with SP_ELx",
    "FIQ, current EL with SP_ELx",
    "SError, current EL with SP_ELx",
    "synchronous, lower EL (AArch64)",
    "IRQ, lower EL (AArch64)",
    "FIQ, lower EL (AArch64)",
    "SError, lower EL (AArch64)",
    "synchronous, lower EL (AArch32)",
    "IRQ, lower EL (AArch32)",
    "FIQ, lower EL (AArch32)",
    "SError, lower EL (AArch32)",
];

/// IRQs, from the vector table: acknowledge, handle, end.
pub extern "C" fn irq_handler() {
    let Some(interface) = gic::CpuInterface::current() else {
        // Interrupts are unmasked only after the GIC is set up; nothing to acknowledge with.
        return;
    };
    let acknowledged = interface.acknowledge();
    let intid = acknowledged & gic::INTID_MASK;
    if intid >= FIRST_SPECIAL_INTID {
        return;
    }
    if intid == heartbeat::timer_intid() {
        heartbeat::on_timer_interrupt();
    } else if intid == keystore_channel::doorbell_intid() {
        keystore_channel::on_doorbell();
    } else {
        heartbeat::on_other_interrupt();
    }
    interface.end_of_interrupt(acknowledged);
}

/// Any other exception, from the vector table: `vector` is its number (Arm ARM D1.10.2).
pub extern "C" fn unexpected_exception(vector: u64, esr: u64, elr: u64, far: u64) -> ! {
    let name = VECTOR_NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("unknown vector");
    crate::say!(
        "secure-domain: unexpected exception ({name}): ESR {esr:#x} (class {:#x}) ELR {elr:#x} FAR {far:#x}; parked",
        esr >> 26 & 0x3f
    );
    park()
}

/// The entry code found the image running at `loaded` instead of `linked`. Absolute addresses
/// (format tables, string addresses in data) are wrong there, so this writes its message only
/// with PC-relative string literals and digits computed on the spot.
pub extern "C" fn loaded_at_wrong_address(loaded: u64, linked: u64) -> ! {
    let mut console = Console::new();
    console.write_bytes(b"secure-domain: loaded at ");
    console.write_hex(loaded);
    console.write_bytes(b" but linked at ");
    console.write_hex(linked);
    console.write_bytes(b" (text_offset 0: load it at the base of its RAM); parked\n");
    console.flush();
    park()
}

/// Stops for good: interrupts masked, waiting in WFI (which the hypervisor traps, so the CPU
/// goes to other domains).
pub extern "C" fn park() -> ! {
    loop {
        // SAFETY: masks interrupts at this CPU and waits; no memory is touched.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}

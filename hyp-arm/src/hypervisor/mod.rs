//! The running hypervisor: boot of the primary and secondary CPUs, the domains, the scheduling of
//! their vCPUs, and the handling of every guest exit. Hardware access goes through `arch` and the GIC drivers; the
//! decisions come from the pure modules (`trap`, `vgic`, `mm`, `domain`).

pub mod board;
mod board_devices;
mod boot;
mod channels;
mod domain;
mod exits;
mod gic;
mod injection;
mod interrupts;
mod scheduler;
mod virtual_uart;

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::entry::exception_kind;
use crate::arch::{cpu, GuestRegisters};
use crate::hyp_log;

pub use board::{BoardConfig, EmbeddedGuest};
pub use boot::start;

/// Set when any CPU panics: every other CPU stops at its next exit.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Every exception taken to EL2 arrives here from the vector table, with the interrupted context.
#[no_mangle]
extern "C" fn hyp_handle_exception(registers: &mut GuestRegisters, kind: u64) {
    match kind {
        exception_kind::LOWER_SYNC => exits::handle_synchronous_exit(registers),
        exception_kind::LOWER_IRQ => interrupts::handle_physical_interrupts(),
        exception_kind::LOWER_FIQ => {
            hyp_log!(
                "unexpected FIQ while vCPU {} ran; ignored",
                cpu::cpu_index()
            );
        }
        exception_kind::LOWER_SERROR => exits::handle_guest_system_error(registers),
        _ => hypervisor_exception(registers, kind),
    }
    if STOPPING.load(Ordering::Relaxed) {
        stop_this_cpu();
    }
    scheduler::before_guest_entry(registers);
}

/// An exception from EL2 itself is a hypervisor bug: report everything and stop.
fn hypervisor_exception(registers: &GuestRegisters, kind: u64) -> ! {
    let (esr, far, _) = cpu::exit_syndrome();
    panic!(
        "exception kind {kind} at EL2: ESR_EL2={esr:#x} FAR_EL2={far:#x} ELR_EL2={:#x} SPSR_EL2={:#x}",
        registers.elr, registers.spsr
    );
}

/// Parks this CPU for good (after a panic elsewhere, or SYSTEM_OFF failing).
pub(crate) fn stop_this_cpu() -> ! {
    loop {
        cpu::wait_for_interrupt();
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    STOPPING.store(true, Ordering::SeqCst);
    let cpu = cpu::cpu_index();
    match info.location() {
        Some(location) => crate::console::write_line_unlocked(format_args!(
            "PANIC on CPU {cpu} at {}:{}: {}",
            location.file(),
            location.line(),
            info.message()
        )),
        None => crate::console::write_line_unlocked(format_args!(
            "PANIC on CPU {cpu}: {}",
            info.message()
        )),
    }
    crate::console::write_line_unlocked(format_args!("hyp-arm: PANIC: all CPUs stopped"));
    // CPUs running a vCPU notice STOPPING at the exit the kick causes; idle ones stay in WFI.
    interrupts::kick_all_other_cpus();
    stop_this_cpu()
}

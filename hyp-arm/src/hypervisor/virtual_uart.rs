//! The console as domains see it: a domain whose console is `emulated-uart` gets a PL011 model
//! (`vdev::pl011`) at the real console's address, with the console's interrupt as a virtual
//! SPI. What it transmits goes to the console multiplexer under its tag; what is typed on the
//! physical UART goes to the focused domain (`console::input`).

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::GuestRegisters;
use crate::console::input::{InputAction, InputRouter};
use crate::console::{self, Shown};
use crate::hyp_log;
use crate::platform::MemoryRange;
use crate::sync::Mutex;
use crate::trap::exit::{load_value, DataAbort};
use crate::vdev::pl011::{Pl011, ReceiveOutcome};

use super::boot::machine;
use super::domain::Domain;
use super::exits::log_fault;
use super::{injection, interrupts};

/// One domain's emulated console UART.
pub struct EmulatedUart {
    /// The register frame, at the same address in the domain as the real UART in the host.
    pub window: MemoryRange,
    /// The virtual SPI it raises (the real console's).
    pub intid: u32,
    model: Mutex<Pl011>,
    /// The interrupt line's last level, to inject on a rise.
    level: AtomicBool,
}

impl EmulatedUart {
    pub const fn new(window: MemoryRange, intid: u32) -> EmulatedUart {
        EmulatedUart {
            window,
            intid,
            model: Mutex::new(Pl011::new()),
            level: AtomicBool::new(false),
        }
    }

    /// Back to power-on state (the domain restarts).
    pub fn reset(&self) {
        self.model.lock().reset();
        self.level.store(false, Ordering::Release);
    }
}

/// Serves a trapped access to `domain`'s emulated UART. Returns false when the access is not to
/// its window (the caller treats it as any other bad access).
pub fn emulate_access(
    domain: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    abort: &DataAbort,
    instruction_length: u64,
) -> bool {
    let Some(uart) = domain.emulated_uart.as_ref() else {
        return false;
    };
    let Some(access) = abort.access.filter(|_| uart.window.contains(abort.ipa)) else {
        return false;
    };
    let offset = abort.ipa - uart.window.base;
    let result = {
        let mut model = uart.model.lock();
        let result = if access.is_write {
            model
                .write(offset, access.width, registers.get(access.register))
                .map(|effects| {
                    if let Some(byte) = effects.transmitted {
                        let _ = console::write_domain_bytes(domain.plan_index, &[byte]);
                    }
                })
        } else {
            model.read(offset, access.width).map(|value| {
                registers.set(access.register, load_value(&access, value));
            })
        };
        (result, model.interrupt_level())
    };
    match result {
        (Ok(()), level) => {
            registers.elr += instruction_length;
            update_interrupt(domain, uart, level);
        }
        (Err(error), _) => {
            log_fault(
                domain,
                format_args!("vCPU {vcpu}: console UART access refused: {error}"),
            );
            injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
        }
    }
    true
}

/// Injects the UART's virtual SPI when its line rises (the vGIC latches it like an edge; the
/// guest's handler drains the UART until the line is low).
fn update_interrupt(domain: &Domain, uart: &EmulatedUart, level: bool) {
    let was = uart.level.swap(level, Ordering::AcqRel);
    if level && !was {
        match domain.vgic.lock().inject(0, uart.intid) {
            Ok(kicks) => interrupts::kick_vcpus(domain, kicks),
            Err(error) => hyp_log!(
                "{}: console interrupt not delivered: {}",
                domain.name(),
                Shown(&error)
            ),
        }
    }
}

/// Routes typed bytes; set up at boot when some domain takes console input.
static INPUT_ROUTER: spin::Once<Mutex<InputRouter>> = spin::Once::new();

/// Sets up console input: the router from the plan, the focused domain's output shown as it is
/// typed. Returns whether any domain takes input (else the UART's interrupt stays off).
pub fn init_input(plan: &crate::domain::plan::SystemPlan) -> bool {
    match InputRouter::from_plan(plan) {
        Ok(router) => {
            let focus = router.focus();
            let _ = console::set_interactive_domain(focus);
            INPUT_ROUTER.call_once(|| Mutex::new(router));
            focus.is_some()
        }
        Err(error) => {
            hyp_log!("console input disabled: {}", Shown(&error));
            false
        }
    }
}

/// The physical console UART's interrupt: hands every waiting byte to the router.
pub fn receive_input() {
    let Some(router) = INPUT_ROUTER.get() else {
        return;
    };
    let domains = &machine().domains;
    while let Some(byte) = console::read_input_byte() {
        let (action, command) = {
            let mut router = router.lock();
            let action = router.receive(byte);
            (action, router.take_command())
        };
        match action {
            InputAction::Deliver { domain, byte } => {
                let Some(domain) = domains.iter().find(|d| d.plan_index == domain) else {
                    continue;
                };
                let Some(uart) = domain.emulated_uart.as_ref() else {
                    continue;
                };
                let level = {
                    let mut model = uart.model.lock();
                    // A full FIFO or a disabled receiver loses the byte, as a real UART would.
                    let _: ReceiveOutcome = model.receive(byte);
                    model.interrupt_level()
                };
                update_interrupt(domain, uart, level);
            }
            InputAction::FocusChanged { domain } => {
                let name = machine()
                    .domains
                    .iter()
                    .find(|d| d.plan_index == domain)
                    .map_or("?", |d| d.name());
                hyp_log!("console input: {}", name);
                let _ = console::set_interactive_domain(Some(domain));
            }
            InputAction::NoSuchInputDomain { number } => {
                hyp_log!("console input: no domain {} takes input", number);
            }
            InputAction::Command => {
                // Printable ASCII only (the router keeps nothing else), so this never fails.
                if let Some(line) = command
                    .as_deref()
                    .and_then(|l| core::str::from_utf8(l).ok())
                {
                    super::board_devices::run_command(line);
                }
            }
            InputAction::Nothing => {}
        }
    }
}

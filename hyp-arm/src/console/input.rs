//! Console input routing: bytes typed on the shared UART go to the focused domain; an escape
//! sequence moves the focus.
//!
//! The escape byte (`ConsolePlan::escape`, Ctrl-] = 0x1d by default) starts a two-byte command:
//!
//! | then | does |
//! | --- | --- |
//! | `n` | focus the next domain that takes input (in plan order, wrapping around) |
//! | `1`..`9` | focus domain number 1..9, i.e. plan index 0..8 |
//! | the escape byte | deliver one escape byte to the focused domain |
//! | `:` | a command line for the board's emulated devices, ended by Enter (`battery capacity 42`); the escape byte abandons it, Backspace deletes |
//! | anything else | nothing: both bytes are dropped |
//!
//! Only domains with an emulated UART take input; the others have no way to read it.
#![forbid(unsafe_code)]

use core::fmt;

use crate::domain::plan::{DomainConsole, SystemPlan, MAX_DOMAINS};

/// What the caller does with one received byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputAction {
    /// Hand `byte` to domain `domain` (its emulated UART's receive FIFO).
    Deliver { domain: usize, byte: u8 },
    /// The focus is now on `domain` (possibly the same as before): the caller says so, e.g.
    /// `[hyp] console input: android`, and makes that domain's output interactive.
    FocusChanged { domain: usize },
    /// The escape sequence named domain number `number` (1-based), which does not exist or
    /// takes no input; the focus did not move.
    NoSuchInputDomain { number: usize },
    /// A command line ended: the caller takes it with [`InputRouter::take_command`] and hands
    /// it to the board's emulated devices.
    Command,
    /// Nothing to do (the byte started or ended an escape sequence, or no domain takes input).
    Nothing,
}

/// The longest command line; longer ones are cut (and then rejected by whoever parses them).
pub const COMMAND_CAPACITY: usize = 80;

/// A plan the router cannot follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputRouterError {
    /// More domains than the console supports.
    TooManyDomains { count: usize },
    /// The initial focus names no domain.
    InitialFocusOutOfRange { index: usize, count: usize },
    /// The initial focus is a domain without an emulated UART, while others have one.
    InitialFocusTakesNoInput { index: usize },
}

impl fmt::Display for InputRouterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooManyDomains { count } => write!(
                formatter,
                "console input: {count} domains, but at most {MAX_DOMAINS} are supported"
            ),
            Self::InitialFocusOutOfRange { index, count } => write!(
                formatter,
                "console input: initial focus is domain {index}, but there are {count} domains"
            ),
            Self::InitialFocusTakesNoInput { index } => write!(
                formatter,
                "console input: initial focus is domain {index}, which has no emulated UART to \
                 read input from"
            ),
        }
    }
}

/// Routes typed bytes to domains (see the module docs).
#[derive(Clone, Debug)]
pub struct InputRouter {
    escape: u8,
    /// Which domains, by plan index, take input.
    takes_input: [bool; MAX_DOMAINS],
    domain_count: usize,
    /// `None` when no domain takes input.
    focus: Option<usize>,
    /// The previous byte was the escape byte.
    escape_pending: bool,
    /// A command line being typed (after the escape byte and `:`).
    command: Option<heapless::Vec<u8, COMMAND_CAPACITY>>,
    /// The last command line ended with Enter, not yet taken.
    completed: Option<heapless::Vec<u8, COMMAND_CAPACITY>>,
}

impl InputRouter {
    /// A router for domains whose `takes_input` flags are given in plan order, focused on
    /// `initial_focus` (ignored when no domain takes input).
    pub fn new(
        escape: u8,
        initial_focus: usize,
        takes_input: &[bool],
    ) -> Result<InputRouter, InputRouterError> {
        let count = takes_input.len();
        if count > MAX_DOMAINS {
            return Err(InputRouterError::TooManyDomains { count });
        }
        let mut flags = [false; MAX_DOMAINS];
        flags[..count].copy_from_slice(takes_input);
        let focus = if flags.contains(&true) {
            match takes_input.get(initial_focus) {
                Some(true) => Some(initial_focus),
                Some(false) => {
                    return Err(InputRouterError::InitialFocusTakesNoInput {
                        index: initial_focus,
                    })
                }
                None => {
                    return Err(InputRouterError::InitialFocusOutOfRange {
                        index: initial_focus,
                        count,
                    })
                }
            }
        } else {
            None
        };
        Ok(InputRouter {
            escape,
            takes_input: flags,
            domain_count: count,
            focus,
            escape_pending: false,
            command: None,
            completed: None,
        })
    }

    /// A router for the plan's domains: those with an emulated UART take input.
    pub fn from_plan(plan: &SystemPlan) -> Result<InputRouter, InputRouterError> {
        let count = plan.domains.len();
        if count > MAX_DOMAINS {
            return Err(InputRouterError::TooManyDomains { count });
        }
        let mut takes_input = [false; MAX_DOMAINS];
        for (flag, domain) in takes_input.iter_mut().zip(plan.domains) {
            *flag = domain.console == DomainConsole::EmulatedUart;
        }
        InputRouter::new(
            plan.console.escape,
            plan.console.initial_focus,
            &takes_input[..count],
        )
    }

    /// The domain that receives input, if any takes it.
    pub fn focus(&self) -> Option<usize> {
        self.focus
    }

    /// The command line that the last [`InputAction::Command`] announced (ASCII text), once.
    pub fn take_command(&mut self) -> Option<heapless::Vec<u8, COMMAND_CAPACITY>> {
        self.completed.take()
    }

    /// A byte while a command line is typed.
    fn command_byte(&mut self, byte: u8) -> InputAction {
        let Some(line) = self.command.as_mut() else {
            return InputAction::Nothing;
        };
        match byte {
            b'\r' | b'\n' => {
                self.completed = self.command.take();
                InputAction::Command
            }
            _ if byte == self.escape => {
                self.command = None;
                InputAction::Nothing
            }
            0x08 | 0x7f => {
                line.pop();
                InputAction::Nothing
            }
            b' '..=b'~' | b'\t' => {
                // A full line drops the rest; its parser rejects what is left.
                let _ = line.push(byte);
                InputAction::Nothing
            }
            _ => InputAction::Nothing,
        }
    }

    /// Routes one byte typed on the console.
    pub fn receive(&mut self, byte: u8) -> InputAction {
        if self.command.is_some() {
            return self.command_byte(byte);
        }
        if !core::mem::take(&mut self.escape_pending) {
            if byte == self.escape {
                self.escape_pending = true;
                return InputAction::Nothing;
            }
            return self.deliver(byte);
        }
        match byte {
            _ if byte == self.escape => self.deliver(byte),
            b':' => {
                self.command = Some(heapless::Vec::new());
                InputAction::Nothing
            }
            b'n' => match self.focus {
                Some(current) => {
                    // Some domain takes input (the current one at least), so this ends.
                    let next = (1..=self.domain_count)
                        .map(|step| (current + step) % self.domain_count)
                        .find(|&index| self.takes_input[index])
                        .unwrap_or(current);
                    self.focus = Some(next);
                    InputAction::FocusChanged { domain: next }
                }
                None => InputAction::Nothing,
            },
            b'1'..=b'9' => {
                let number = usize::from(byte - b'0');
                let index = number - 1;
                if index < self.domain_count && self.takes_input[index] {
                    self.focus = Some(index);
                    InputAction::FocusChanged { domain: index }
                } else {
                    InputAction::NoSuchInputDomain { number }
                }
            }
            _ => InputAction::Nothing,
        }
    }

    fn deliver(&self, byte: u8) -> InputAction {
        match self.focus {
            Some(domain) => InputAction::Deliver { domain, byte },
            None => InputAction::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{
        ConsolePlan, DomainPlan, KernelSource, MemoryPlan, Role, Scheduling, SystemOffAction,
    };

    const ESCAPE: u8 = 0x1d;

    fn deliver(domain: usize, byte: u8) -> InputAction {
        InputAction::Deliver { domain, byte }
    }

    #[test]
    fn plain_bytes_go_to_the_focused_domain() {
        let mut router = InputRouter::new(ESCAPE, 1, &[false, true, true]).unwrap();
        assert_eq!(router.focus(), Some(1));
        assert_eq!(router.receive(b'l'), deliver(1, b'l'));
        assert_eq!(router.receive(b'\r'), deliver(1, b'\r'));
        assert_eq!(router.receive(0x03), deliver(1, 0x03), "Ctrl-C passes");
    }

    #[test]
    fn escape_n_cycles_through_domains_that_take_input() {
        let mut router = InputRouter::new(ESCAPE, 1, &[true, true, false, true]).unwrap();
        let mut next = || {
            assert_eq!(router.receive(ESCAPE), InputAction::Nothing);
            router.receive(b'n')
        };
        assert_eq!(next(), InputAction::FocusChanged { domain: 3 });
        assert_eq!(next(), InputAction::FocusChanged { domain: 0 });
        assert_eq!(next(), InputAction::FocusChanged { domain: 1 });
        assert_eq!(router.receive(b'x'), deliver(1, b'x'));
    }

    #[test]
    fn escape_n_with_one_input_domain_confirms_it() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true, false]).unwrap();
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'n'),
            InputAction::FocusChanged { domain: 0 }
        );
    }

    #[test]
    fn escape_digit_focuses_that_domain_number() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true, false, true]).unwrap();
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'3'),
            InputAction::FocusChanged { domain: 2 }
        );
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'2'),
            InputAction::NoSuchInputDomain { number: 2 }
        );
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'9'),
            InputAction::NoSuchInputDomain { number: 9 }
        );
        assert_eq!(router.focus(), Some(2), "a refused number keeps the focus");
        assert_eq!(router.receive(b'a'), deliver(2, b'a'));
    }

    #[test]
    fn escape_twice_delivers_one_escape_byte() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true]).unwrap();
        assert_eq!(router.receive(ESCAPE), InputAction::Nothing);
        assert_eq!(router.receive(ESCAPE), deliver(0, ESCAPE));
        // The sequence is over: the next escape starts a new one.
        assert_eq!(router.receive(ESCAPE), InputAction::Nothing);
        assert_eq!(router.receive(b'q'), InputAction::Nothing);
        assert_eq!(router.receive(b'q'), deliver(0, b'q'));
    }

    #[test]
    fn anything_else_after_escape_is_dropped() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true, true]).unwrap();
        for byte in [b'0', b'x', b'N', 0x00, 0xFF] {
            assert_eq!(router.receive(ESCAPE), InputAction::Nothing);
            assert_eq!(router.receive(byte), InputAction::Nothing, "byte {byte:#x}");
            assert_eq!(router.focus(), Some(0));
        }
    }

    #[test]
    fn without_input_domains_nothing_is_delivered() {
        let mut router = InputRouter::new(ESCAPE, 0, &[false]).unwrap();
        assert_eq!(router.focus(), None);
        assert_eq!(router.receive(b'a'), InputAction::Nothing);
        router.receive(ESCAPE);
        assert_eq!(router.receive(b'n'), InputAction::Nothing);
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'1'),
            InputAction::NoSuchInputDomain { number: 1 }
        );
    }

    const fn domain(name: &'static str, console: DomainConsole) -> DomainPlan {
        DomainPlan {
            name,
            role: Role::Rich,
            vcpu_pcpus: &[0],
            optional_vcpus: false,
            priority: 0,
            memory: MemoryPlan {
                size: 0x20_0000,
                ipa: None,
                physical: None,
            },
            kernel: KernelSource::BootModules,
            bootargs: None,
            devices: &[],
            owns_unclaimed_devices: false,
            console,
            starts_after: None,
            on_system_off: SystemOffAction::StopDomain,
        }
    }

    static DOMAINS: [DomainPlan; 3] = [
        domain("secure", DomainConsole::Hypercall),
        domain("android", DomainConsole::EmulatedUart),
        domain("driver", DomainConsole::EmulatedUart),
    ];

    fn plan(initial_focus: usize) -> SystemPlan {
        SystemPlan {
            source: "test",
            scheduling: Scheduling::Pinned,
            domains: &DOMAINS,
            console: ConsolePlan {
                initial_focus,
                escape: ESCAPE,
            },
            channels: &[],
            virtual_devices: &[],
        }
    }

    #[test]
    fn the_plan_decides_who_takes_input() {
        let mut router = InputRouter::from_plan(&plan(1)).unwrap();
        assert_eq!(router.focus(), Some(1));
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'n'),
            InputAction::FocusChanged { domain: 2 }
        );
        router.receive(ESCAPE);
        assert_eq!(
            router.receive(b'n'),
            InputAction::FocusChanged { domain: 1 },
            "the hypercall-only domain is skipped"
        );
        assert_eq!(
            InputRouter::from_plan(&plan(0)).unwrap_err(),
            InputRouterError::InitialFocusTakesNoInput { index: 0 }
        );
    }

    #[test]
    fn bad_plans_are_refused_with_reasons() {
        assert_eq!(
            InputRouter::new(ESCAPE, 0, &[true; MAX_DOMAINS + 1]).unwrap_err(),
            InputRouterError::TooManyDomains {
                count: MAX_DOMAINS + 1
            }
        );
        assert_eq!(
            InputRouter::new(ESCAPE, 2, &[true, true]).unwrap_err(),
            InputRouterError::InitialFocusOutOfRange { index: 2, count: 2 }
        );
        let error = InputRouter::new(ESCAPE, 0, &[false, true]).unwrap_err();
        assert_eq!(
            error,
            InputRouterError::InitialFocusTakesNoInput { index: 0 }
        );
        assert!(error.to_string().contains("no emulated UART"));
    }

    #[test]
    fn a_command_line_is_collected_until_enter() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true]).unwrap();
        assert_eq!(router.receive(ESCAPE), InputAction::Nothing);
        assert_eq!(router.receive(b':'), InputAction::Nothing);
        for &byte in b"battery capx\x7facity 42" {
            assert_eq!(router.receive(byte), InputAction::Nothing, "{byte:#x}");
        }
        assert_eq!(router.receive(b'\r'), InputAction::Command);
        assert_eq!(
            router.take_command().as_deref(),
            Some(&b"battery capacity 42"[..])
        );
        assert_eq!(router.take_command(), None, "taken once");
        assert_eq!(router.receive(b'x'), deliver(0, b'x'), "back to the domain");
    }

    #[test]
    fn the_escape_byte_abandons_a_command_line() {
        let mut router = InputRouter::new(ESCAPE, 0, &[true]).unwrap();
        for byte in [ESCAPE, b':', b'k', ESCAPE] {
            assert_eq!(router.receive(byte), InputAction::Nothing);
        }
        assert_eq!(router.receive(b'\r'), deliver(0, b'\r'));
        assert_eq!(router.take_command(), None);
    }
}

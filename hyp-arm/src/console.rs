//! The hypervisor's console: tagged log records on the UART the board chose.
//!
//! Records go out whole under one lock, so records from different CPUs never interleave. The
//! guests' own output shares the UART, so the hypervisor's is told apart: as plain text lines
//! tagged `[hyp]`, or, with the `defmt` feature, as defmt frames that the host decodes into the
//! same lines (docs/LOGGING.md).
//!
//! [`hyp_log!`](crate::hyp_log) takes one syntax that both modes accept: a format string literal
//! with positional arguments only (`{}`, `{:#x}`; no inline `{name}`), each argument an integer,
//! a `&str`, or a value wrapped in [`Shown`].

use core::fmt::{self, Write};

#[cfg(feature = "defmt")]
mod defmt_logger;

/// A UART driver the board hands to the core for its console.
pub trait ConsoleUart: Sync {
    /// Writes raw bytes, blocking while the transmit FIFO is full.
    fn write_bytes(&self, bytes: &[u8]);
}

static CONSOLE: spin::Once<&'static dyn ConsoleUart> = spin::Once::new();

/// Held while a line or a defmt frame goes out; it also holds the defmt encoder's state, which
/// lives from one frame to the next.
static OUTPUT_LOCK: spin::mutex::SpinMutex<Output> = spin::mutex::SpinMutex::new(Output::new());

/// What the holder of [`OUTPUT_LOCK`] may change.
struct Output {
    #[cfg(feature = "defmt")]
    encoder: defmt::Encoder,
}

impl Output {
    const fn new() -> Output {
        Output {
            #[cfg(feature = "defmt")]
            encoder: defmt::Encoder::new(),
        }
    }
}

/// Selects the console. Later calls are ignored: the console never changes once chosen.
pub fn set_console(uart: &'static dyn ConsoleUart) {
    CONSOLE.call_once(|| uart);
}

/// A value that [`hyp_log!`](crate::hyp_log) shows with its `Display` implementation, such as an
/// error. In defmt mode the text is formatted on the target (`defmt::Display2Format`), which costs
/// code and time: meant for rare paths such as errors, not for hot ones.
pub struct Shown<'a, T: fmt::Display + ?Sized>(pub &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Shown<'_, T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

#[cfg(feature = "defmt")]
impl<T: fmt::Display + ?Sized> defmt::Format for Shown<'_, T> {
    fn format(&self, formatter: defmt::Formatter) {
        defmt::Format::format(&defmt::Display2Format(self.0), formatter)
    }
}

/// A line being assembled; longer lines are cut (and marked) rather than split.
struct LineBuffer {
    bytes: heapless::Vec<u8, 256>,
    truncated: bool,
}

impl LineBuffer {
    /// A line tagged `[hyp]` holding `args`, ending in CR LF.
    fn tagged(args: fmt::Arguments) -> LineBuffer {
        let mut line = LineBuffer {
            bytes: heapless::Vec::new(),
            truncated: false,
        };
        let _ = line.write_str("[hyp] ");
        let _ = line.write_fmt(args);
        let _ = line.write_str(if line.truncated { "...\n" } else { "\n" });
        line
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            // Terminals want CR LF.
            if byte == b'\n' && self.bytes.push(b'\r').is_err() {
                self.truncated = true;
            }
            if self.bytes.push(byte).is_err() {
                self.truncated = true;
            }
        }
        Ok(())
    }
}

/// Writes one tagged text line. Used through the `hyp_log!` macro.
#[cfg(not(feature = "defmt"))]
pub fn write_line(args: fmt::Arguments) {
    let Some(console) = CONSOLE.get() else { return };
    let line = LineBuffer::tagged(args);
    let _guard = OUTPUT_LOCK.lock();
    console.write_bytes(&line.bytes);
}

/// Writes one text line without taking the lock: for the panic path, where the lock may be held
/// by the CPU that panicked. Plain text in both modes, so that a panic is readable even on a bare
/// serial terminal and whatever state the defmt encoder was left in.
pub fn write_line_unlocked(args: fmt::Arguments) {
    let Some(console) = CONSOLE.get() else { return };
    let line = LineBuffer::tagged(args);
    // A CPU may have stopped in the middle of a defmt frame: the frame terminator ends it, so
    // that the host reads what follows as text again. Outside a frame the host drops it.
    #[cfg(feature = "defmt")]
    console.write_bytes(&[defmt_logger::FRAME_END]);
    console.write_bytes(&line.bytes);
}

/// Domain names, by index, for the tags of their lines (set once at boot).
static DOMAINS: spin::Once<&'static crate::domain::plan::SystemPlan> = spin::Once::new();

/// Names the domains whose output the console tags (PLACEHOLDER until the console multiplexer).
pub fn set_domains(plan: &'static crate::domain::plan::SystemPlan) {
    DOMAINS.call_once(|| plan);
}

/// Writes bytes domain `index` sent to the console, tagged with its name at each line start.
pub fn write_domain_bytes(index: usize, bytes: &[u8]) {
    let Some(console) = CONSOLE.get() else { return };
    let name = DOMAINS
        .get()
        .and_then(|plan| plan.domains.get(index))
        .map_or("domain", |domain| domain.name);
    let _guard = OUTPUT_LOCK.lock();
    for line in bytes.split_inclusive(|&byte| byte == b'\n') {
        console.write_bytes(b"[");
        console.write_bytes(name.as_bytes());
        console.write_bytes(b"] ");
        console.write_bytes(line);
    }
}

/// Emits what domain `index` left of an unfinished line (it stops or restarts).
pub fn flush_domain(_index: usize) {}

/// Logs a record on the hypervisor console: a `[hyp]` text line, or with the `defmt` feature a
/// defmt frame the host decodes into the same line.
///
/// The syntax is what both `core::fmt` and defmt accept: a string literal with positional
/// arguments only, e.g. `hyp_log!("CPU {}: {}", index, Shown(&error))` (see the module docs).
#[cfg(not(feature = "defmt"))]
#[macro_export]
macro_rules! hyp_log {
    ($format:literal $(, $argument:expr)* $(,)?) => {
        $crate::console::write_line(format_args!($format $(, $argument)*))
    };
}

/// Logs a record on the hypervisor console: a `[hyp]` text line, or with the `defmt` feature a
/// defmt frame the host decodes into the same line.
///
/// The syntax is what both `core::fmt` and defmt accept: a string literal with positional
/// arguments only, e.g. `hyp_log!("CPU {}: {}", index, Shown(&error))` (see the module docs).
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! hyp_log {
    ($format:literal $(, $argument:expr)* $(,)?) => {
        // `println!`, not a level macro: records are never filtered out at build time.
        defmt::println!($format $(, $argument)*)
    };
}

#[cfg(all(test, not(feature = "defmt")))]
mod tests {
    use super::*;

    /// Records what the console would send.
    struct Recorder(spin::Mutex<heapless::Vec<u8, 1024>>);

    impl ConsoleUart for Recorder {
        fn write_bytes(&self, bytes: &[u8]) {
            let _ = self.0.lock().extend_from_slice(bytes);
        }
    }

    static RECORDER: Recorder = Recorder(spin::Mutex::new(heapless::Vec::new()));

    #[test]
    fn text_lines_take_the_shared_syntax() {
        set_console(&RECORDER);
        crate::hyp_log!(
            "data abort at {:#x}: {} ({})",
            0xb00_0000u64,
            Shown(&format_args!("refused")),
            "guest"
        );
        write_line_unlocked(format_args!("hyp-arm: PANIC: all CPUs stopped"));
        assert_eq!(
            core::str::from_utf8(&RECORDER.0.lock()).unwrap(),
            "[hyp] data abort at 0xb000000: refused (guest)\r\n\
             [hyp] hyp-arm: PANIC: all CPUs stopped\r\n"
        );
    }
}

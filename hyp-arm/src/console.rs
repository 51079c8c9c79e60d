//! The hypervisor's console: one UART shared by the hypervisor and every domain, as tagged lines.
//!
//! Everything goes out under one lock, so records from different CPUs never interleave. The
//! hypervisor's records are plain text lines tagged `[hyp]`, or, with the `defmt` feature, defmt
//! frames that the host decodes into the same lines (docs/LOGGING.md). The domains' output goes
//! through the console multiplexer ([`mux`]): each domain's lines are tagged with its name,
//! escaped, and never mixed with anyone else's.
//!
//! Boot-time setup, in this order:
//!
//! 1. [`set_console`] with the board's UART driver (a [`serial::SerialConsole`] builds it);
//! 2. [`set_domain_names`] with the plan's domain names, in plan order (`[secure]`,
//!    `[android]`); a domain without a name is shown as `[domain <index>]`;
//! 3. [`set_interactive_domain`] with the domain that has the console's input
//!    ([`input::InputRouter::focus`]), again on every focus change: its partial lines (a shell
//!    prompt, echo) show at once instead of waiting for their line end.
//!
//! Then [`write_domain_bytes`] takes a domain's output (its `CONSOLE_WRITE` hypercalls, the bytes
//! its emulated UART transmits) and [`flush_domain`] shows what is left of a stopped domain's
//! last line.
//!
//! [`hyp_log!`](crate::hyp_log) takes one syntax that both modes accept: a format string literal
//! with positional arguments only (`{}`, `{:#x}`; no inline `{name}`), each argument an integer,
//! a `&str`, or a value wrapped in [`Shown`].

use core::fmt::{self, Write};

#[cfg(feature = "defmt")]
mod defmt_logger;
pub mod input;
pub mod mux;
pub mod serial;

use mux::{ConsoleMux, MuxError, Source};

/// A UART driver the board hands to the core for its console.
pub trait ConsoleUart: Sync {
    /// Writes raw bytes, blocking while the transmit FIFO is full.
    fn write_bytes(&self, bytes: &[u8]);
    /// A received byte, if one waits.
    fn read_byte(&self) -> Option<u8> {
        None
    }
    /// Makes the UART raise its interrupt while received bytes wait.
    fn enable_receive_interrupts(&self) {}
}

static CONSOLE: spin::Once<&'static dyn ConsoleUart> = spin::Once::new();

/// Held while a line or a defmt frame goes out; it also holds the multiplexer's line buffers and
/// the defmt encoder's state, which live from one call to the next.
static OUTPUT_LOCK: spin::mutex::SpinMutex<Output, crate::sync::YieldToOtherCpus> =
    spin::mutex::SpinMutex::new(Output::new());

/// What the holder of [`OUTPUT_LOCK`] may change.
struct Output {
    mux: ConsoleMux,
    #[cfg(feature = "defmt")]
    encoder: defmt::Encoder,
}

impl Output {
    const fn new() -> Output {
        Output {
            mux: ConsoleMux::new(),
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

/// A `[hyp]` line for the panic path, which cannot use the multiplexer (its lock may be held);
/// longer lines are cut (and marked) rather than split.
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

/// Writes one `[hyp]` text line through the multiplexer. Used through the `hyp_log!` macro.
#[cfg(not(feature = "defmt"))]
pub fn write_line(args: fmt::Arguments) {
    let Some(console) = CONSOLE.get() else { return };
    let mut output = OUTPUT_LOCK.lock();
    let mut writer = HypervisorLine {
        mux: &mut output.mux,
        console: *console,
    };
    // A record longer than a line buffer goes out in marked pieces; nothing is cut off.
    let _ = writer.write_fmt(args);
    let _ = writer.write_str("\n");
}

/// Formats a hypervisor record straight into the multiplexer (the output lock is held).
#[cfg(not(feature = "defmt"))]
struct HypervisorLine<'a> {
    mux: &'a mut ConsoleMux,
    console: &'static dyn ConsoleUart,
}

#[cfg(not(feature = "defmt"))]
impl Write for HypervisorLine<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let console = self.console;
        self.mux
            .write(
                Source::Hypervisor,
                text.as_bytes(),
                &mut |bytes: &[u8]| console.write_bytes(bytes),
            )
            .map_err(|_| fmt::Error)
    }
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

/// The next byte typed on the console, if any.
pub fn read_input_byte() -> Option<u8> {
    CONSOLE.get()?.read_byte()
}

/// Makes the console UART interrupt when bytes are typed.
pub fn enable_input_interrupts() {
    if let Some(console) = CONSOLE.get() {
        console.enable_receive_interrupts();
    }
}

/// Names the domains, in plan order: domain i's lines are tagged `[names[i]]`. Names beyond
/// the most domains a system has are refused (and none is set).
pub fn set_domain_names(names: &[&'static str]) -> Result<(), MuxError> {
    if names.len() > crate::domain::plan::MAX_DOMAINS {
        return Err(MuxError::NoSuchDomain {
            index: names.len() - 1,
        });
    }
    let mut output = OUTPUT_LOCK.lock();
    for (index, name) in names.iter().enumerate() {
        output.mux.set_domain_name(index, name)?;
    }
    Ok(())
}

/// Makes domain `index`'s partial lines show at once (`None`: nobody's): the domain that has
/// the console's input, so that its prompt and echo appear as they are typed.
pub fn set_interactive_domain(index: Option<usize>) -> Result<(), MuxError> {
    OUTPUT_LOCK
        .lock()
        .mux
        .set_interactive(index.map(Source::Domain))
}

/// Writes bytes domain `index` sent to the console (its `CONSOLE_WRITE` hypercalls, its
/// emulated UART's transmissions): line-buffered, tagged with its name, escaped (module
/// [`mux`]). An index beyond the most domains is refused; the caller logs it.
pub fn write_domain_bytes(index: usize, bytes: &[u8]) -> Result<(), MuxError> {
    let Some(console) = CONSOLE.get() else {
        return Ok(());
    };
    OUTPUT_LOCK
        .lock()
        .mux
        .write(Source::Domain(index), bytes, &mut |bytes: &[u8]| {
            console.write_bytes(bytes)
        })
}

/// Shows what is left of domain `index`'s last line, marked as cut off: for a domain that
/// stopped (reset, crash, power-off).
pub fn flush_domain(index: usize) -> Result<(), MuxError> {
    let Some(console) = CONSOLE.get() else {
        return Ok(());
    };
    OUTPUT_LOCK
        .lock()
        .mux
        .flush(Source::Domain(index), &mut |bytes: &[u8]| {
            console.write_bytes(bytes)
        })
}

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
    use crate::domain::plan::MAX_DOMAINS;

    /// Records what the console would send.
    struct Recorder(spin::Mutex<heapless::Vec<u8, 1024>>);

    impl ConsoleUart for Recorder {
        fn write_bytes(&self, bytes: &[u8]) {
            let _ = self.0.lock().extend_from_slice(bytes);
        }
    }

    static RECORDER: Recorder = Recorder(spin::Mutex::new(heapless::Vec::new()));

    /// Takes what the console sent so far.
    fn take_output() -> String {
        let mut recorded = RECORDER.0.lock();
        let text = String::from_utf8(recorded.to_vec()).unwrap();
        recorded.clear();
        text
    }

    /// One test: the console, its lock and its multiplexer are global.
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
            take_output(),
            "[hyp] data abort at 0xb000000: refused (guest)\r\n\
             [hyp] hyp-arm: PANIC: all CPUs stopped\r\n"
        );

        // Domains: tagged by name, line-buffered, escaped, flushed when they stop.
        set_domain_names(&["secure", "android"]).unwrap();
        write_domain_bytes(1, b"login: ").unwrap();
        write_domain_bytes(0, b"keystore \x1b[31mready\n").unwrap();
        crate::hyp_log!("{}: stopped", "android");
        flush_domain(1).unwrap();
        assert_eq!(
            take_output(),
            "[secure] keystore \\x1b[31mready\r\n\
             [hyp] android: stopped\r\n\
             [android] login:  [no end of line]\r\n"
        );

        // The interactive domain's prompt shows at once; a record ends its line first.
        set_interactive_domain(Some(1)).unwrap();
        write_domain_bytes(1, b"~ # ").unwrap();
        crate::hyp_log!("tick");
        write_domain_bytes(1, b"ls\r\n").unwrap();
        set_interactive_domain(None).unwrap();
        assert_eq!(
            take_output(),
            "[android] ~ #  \\\r\n[hyp] tick\r\n[android] ... ls\r\n"
        );

        // Refusals name the domain and send nothing.
        assert!(write_domain_bytes(MAX_DOMAINS, b"x\n").is_err());
        assert!(set_domain_names(&["a"; MAX_DOMAINS + 1]).is_err());
        assert_eq!(take_output(), "");

        // A record longer than a line buffer is split, not cut.
        let long = "x".repeat(mux::LINE_CAPACITY + 5);
        crate::hyp_log!("{}", long.as_str());
        assert_eq!(
            take_output(),
            format!(
                "[hyp] {} \\\r\n[hyp] ... xxxxx\r\n",
                "x".repeat(mux::LINE_CAPACITY)
            )
        );
    }
}

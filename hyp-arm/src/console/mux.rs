//! The console multiplexer: one UART shared by the hypervisor and every domain, as tagged lines.
//!
//! Each source (the hypervisor, each domain) has a line buffer of its own. A complete line goes
//! to the sink as one contiguous run of bytes, `[tag] text\r\n`, so lines of different sources
//! never mix, and a domain that never ends its line delays nobody but itself.
//!
//! - A line longer than [`LINE_CAPACITY`] goes out in pieces; every piece but the last ends
//!   with [`CUT_MARK`], each later piece starts with the tag and [`CONTINUATION_MARK`], so a
//!   reader (a person, the system tests' runner) can put the line back together. Nothing is
//!   dropped silently.
//! - `\n` and `\r\n` (any run of CRs, then LF) end a line; the sink always gets CR LF.
//! - Every byte outside printable ASCII (0x20..=0x7E) except TAB is shown as `\xNN`. So a
//!   domain can send no terminal control sequence (ESC, a bare CR that would return to the
//!   tag's column, C1 controls), and no 0xFF or 0x00, which would open or close a defmt frame
//!   for the host's decoder (docs/LOGGING.md). A domain's line that starts with `[hyp]` still
//!   gets the domain's own tag in front.
//! - [`ConsoleMux::flush`] shows a stopped domain's partial line, marked with
//!   [`PARTIAL_LINE_MARK`].
//! - One source may be *interactive* ([`ConsoleMux::set_interactive`]): the domain that has the
//!   console's input. Its partial lines go out at once (a shell prompt, the echo of what is
//!   typed). When another source's line comes while such a line is open on the terminal, that
//!   line is cut first (ended with [`CUT_MARK`]) and carries on later as a continuation piece.
//!
//! The caller holds its output lock around every call, so each line reaches the UART whole.
#![forbid(unsafe_code)]

use core::fmt;

use crate::domain::plan::MAX_DOMAINS;

/// The most shown bytes (after escaping) one line piece holds.
pub const LINE_CAPACITY: usize = 160;
/// The hypervisor and every domain.
pub const SOURCE_COUNT: usize = MAX_DOMAINS + 1;
/// After the tag, on the pieces of a line that continue an earlier piece.
pub const CONTINUATION_MARK: &[u8] = b"... ";
/// At the end of a piece that a later continuation piece completes (a backslash, as a shell
/// continues a line).
pub const CUT_MARK: &[u8] = b" \\";
/// At the end of a partial line shown by [`ConsoleMux::flush`].
pub const PARTIAL_LINE_MARK: &[u8] = b" [no end of line]";
/// What ends every line on the terminal.
const LINE_END: &[u8] = b"\r\n";

/// Who wrote some console output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The hypervisor's own records (`[hyp]`).
    Hypervisor,
    /// The domain with this index in the system plan.
    Domain(usize),
}

impl Source {
    /// The source's slot in the multiplexer's tables.
    fn slot(self) -> Result<usize, MuxError> {
        match self {
            Source::Hypervisor => Ok(0),
            Source::Domain(index) if index < MAX_DOMAINS => Ok(index + 1),
            Source::Domain(index) => Err(MuxError::NoSuchDomain { index }),
        }
    }
}

/// A request the multiplexer refused; nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MuxError {
    /// The domain index is beyond the most domains a system has.
    NoSuchDomain { index: usize },
}

impl fmt::Display for MuxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MuxError::NoSuchDomain { index } => write!(
                formatter,
                "console output for domain {index}, but a system has at most {MAX_DOMAINS} domains"
            ),
        }
    }
}

/// Where the multiplexer's output goes (the console UART, under the caller's lock).
pub trait ConsoleSink {
    /// Sends bytes as they are.
    fn send(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> ConsoleSink for F {
    fn send(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// How one byte is shown: itself, or `\xNN`.
struct Shown {
    bytes: [u8; 4],
    length: usize,
}

impl Shown {
    fn of(byte: u8) -> Shown {
        if byte == b'\t' || (0x20..=0x7E).contains(&byte) {
            return Shown {
                bytes: [byte, 0, 0, 0],
                length: 1,
            };
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        Shown {
            bytes: [
                b'\\',
                b'x',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ],
            length: 4,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

/// One source's line being assembled.
#[derive(Clone, Copy)]
struct SourceState {
    /// The domain's name; `None` shows `domain <index>` (the hypervisor is always `hyp`).
    name: Option<&'static str>,
    /// Shown bytes (already escaped) not yet sent.
    line: [u8; LINE_CAPACITY],
    length: usize,
    /// The start of the current line is on the terminal already: the next piece is marked as
    /// a continuation.
    continues: bool,
    /// A CR arrived; an LF next ends the line, anything else shows it.
    carriage_return: bool,
}

impl SourceState {
    const EMPTY: SourceState = SourceState {
        name: None,
        line: [0; LINE_CAPACITY],
        length: 0,
        continues: false,
        carriage_return: false,
    };
}

/// The console multiplexer (see the module docs).
pub struct ConsoleMux {
    sources: [SourceState; SOURCE_COUNT],
    /// The slot whose line is on the terminal without its end yet (only ever the interactive
    /// source's, or the one that was interactive until recently).
    open_line: Option<usize>,
    /// The slot whose partial lines go out at once.
    interactive: Option<usize>,
}

impl Default for ConsoleMux {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleMux {
    pub const fn new() -> ConsoleMux {
        ConsoleMux {
            sources: [SourceState::EMPTY; SOURCE_COUNT],
            open_line: None,
            interactive: None,
        }
    }

    /// Names domain `index`: its lines are tagged `[name]`. The name is shown escaped like any
    /// output, so even a bad name cannot reach the terminal raw.
    pub fn set_domain_name(&mut self, index: usize, name: &'static str) -> Result<(), MuxError> {
        let slot = Source::Domain(index).slot()?;
        self.sources[slot].name = Some(name);
        Ok(())
    }

    /// Makes `source`'s partial lines go out at once (`None`: no source's do). Meant for the
    /// domain that has the console's input.
    pub fn set_interactive(&mut self, source: Option<Source>) -> Result<(), MuxError> {
        self.interactive = source.map(Source::slot).transpose()?;
        Ok(())
    }

    /// Adds `bytes` from `source` and sends every line they complete.
    pub fn write(
        &mut self,
        source: Source,
        bytes: &[u8],
        sink: &mut impl ConsoleSink,
    ) -> Result<(), MuxError> {
        let slot = source.slot()?;
        for &byte in bytes {
            match byte {
                b'\r' => self.sources[slot].carriage_return = true,
                b'\n' => {
                    self.sources[slot].carriage_return = false;
                    self.finish_line(slot, b"", false, sink);
                }
                _ => {
                    if core::mem::take(&mut self.sources[slot].carriage_return) {
                        self.push(slot, b'\r', sink);
                    }
                    self.push(slot, byte, sink);
                }
            }
        }
        if self.interactive == Some(slot) && self.sources[slot].length > 0 {
            self.show_open(slot, sink);
        }
        Ok(())
    }

    /// Sends `source`'s partial line, if any, marked as such: for a domain that stopped
    /// (reset, crash, power-off), so its last words are not held back forever.
    pub fn flush(&mut self, source: Source, sink: &mut impl ConsoleSink) -> Result<(), MuxError> {
        let slot = source.slot()?;
        let state = &mut self.sources[slot];
        state.carriage_return = false;
        if state.length == 0 && self.open_line != Some(slot) {
            state.continues = false;
            return Ok(());
        }
        self.finish_line(slot, PARTIAL_LINE_MARK, false, sink);
        Ok(())
    }

    /// Ends the interactive line open on the terminal, if any, so that output that does not go
    /// through the multiplexer (a defmt frame) starts on a line of its own.
    pub fn end_open_line(&mut self, sink: &mut impl ConsoleSink) {
        if let Some(slot) = self.open_line.take() {
            sink.send(CUT_MARK);
            sink.send(LINE_END);
            self.sources[slot].continues = true;
        }
    }

    /// Appends one byte, shown; a full line goes out first as a piece.
    fn push(&mut self, slot: usize, byte: u8, sink: &mut impl ConsoleSink) {
        let shown = Shown::of(byte);
        if self.sources[slot].length + shown.length > LINE_CAPACITY {
            if self.interactive == Some(slot) {
                self.show_open(slot, sink);
            } else {
                self.finish_line(slot, b"", true, sink);
            }
        }
        let state = &mut self.sources[slot];
        state.line[state.length..state.length + shown.length].copy_from_slice(shown.as_bytes());
        state.length += shown.length;
    }

    /// Sends the buffered text and ends the terminal line, followed by `mark`. With
    /// `continues_after`, the line goes on in the next piece.
    fn finish_line(
        &mut self,
        slot: usize,
        mark: &[u8],
        continues_after: bool,
        sink: &mut impl ConsoleSink,
    ) {
        if self.open_line == Some(slot) {
            self.open_line = None;
        } else {
            self.end_open_line(sink);
            self.send_line_start(slot, sink);
        }
        let state = &mut self.sources[slot];
        sink.send(&state.line[..state.length]);
        sink.send(mark);
        if continues_after {
            sink.send(CUT_MARK);
        }
        sink.send(LINE_END);
        state.length = 0;
        state.continues = continues_after;
    }

    /// Sends the buffered text and leaves the terminal line open for more of it.
    fn show_open(&mut self, slot: usize, sink: &mut impl ConsoleSink) {
        if self.open_line != Some(slot) {
            self.end_open_line(sink);
            self.send_line_start(slot, sink);
            self.open_line = Some(slot);
        }
        let state = &mut self.sources[slot];
        sink.send(&state.line[..state.length]);
        state.length = 0;
    }

    /// Sends `[tag] `, and the continuation mark if the line started on an earlier piece.
    fn send_line_start(&self, slot: usize, sink: &mut impl ConsoleSink) {
        sink.send(b"[");
        match (slot, self.sources[slot].name) {
            (0, _) => sink.send(b"hyp"),
            (_, Some(name)) => {
                for &byte in name.as_bytes() {
                    sink.send(Shown::of(byte).as_bytes());
                }
            }
            (_, None) => {
                sink.send(b"domain ");
                send_decimal(slot - 1, sink);
            }
        }
        sink.send(b"] ");
        if self.sources[slot].continues {
            sink.send(CONTINUATION_MARK);
        }
    }
}

/// Sends `value` in decimal, without allocating.
fn send_decimal(mut value: usize, sink: &mut impl ConsoleSink) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `value % 10` is below 10, so the cast keeps it whole.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    sink.send(&digits[start..]);
}

#[cfg(test)]
mod tests;

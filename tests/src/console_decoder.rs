//! Turns hyp-arm's console stream into text: the guests' text passes through, the hypervisor's
//! defmt frames become `[hyp] ...` lines, as a text-logging hyp-arm would have printed them.
//!
//! A frame is 0xFF, the record in defmt's rzCOBS encoding (no zero byte), then 0x00
//! (docs/LOGGING.md). Frames are decoded with the table of the ELF file the image was made from,
//! which `cargo xtask build` puts next to the image ([`elf_of_image`]). Used by `cargo xtask run`
//! and the system-test runner alike.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use defmt_decoder::Table;

/// Opens a frame: a byte that UTF-8 text never contains.
pub const FRAME_START: u8 = 0xFF;

/// Closes a frame: rzCOBS's separator. Outside a frame it is dropped (hyp-arm's panic path sends
/// one to close a frame another CPU may have left open).
pub const FRAME_END: u8 = 0x00;

/// Longer frames are given up on: hyp-arm's records are far shorter, and a stray 0xFF in a
/// guest's binary output must not swallow the rest of the console.
pub const MAX_FRAME_LENGTH: usize = 4096;

/// Tags the hypervisor's lines, as in text mode.
const TAG: &str = "[hyp] ";

/// The unstripped ELF file that `cargo xtask build` keeps next to an image: `hyp-arm-defmt.img`
/// comes from `hyp-arm-defmt.elf`.
pub fn elf_of_image(image: &Path) -> PathBuf {
    image.with_extension("elf")
}

/// Why an ELF file's defmt table cannot be used.
#[derive(Debug)]
pub enum TableError {
    Read { elf: PathBuf, error: io::Error },
    Parse { elf: PathBuf, error: String },
}

impl fmt::Display for TableError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Read { elf, error } => {
                write!(formatter, "cannot read {}: {error}", elf.display())
            }
            TableError::Parse { elf, error } => write!(
                formatter,
                "{} has no usable defmt table ({error}); rebuild it with `cargo xtask build`",
                elf.display()
            ),
        }
    }
}

impl std::error::Error for TableError {}

/// The demultiplexer: feed it the console's bytes as they come, in chunks of any size.
pub struct ConsoleDecoder {
    table: Option<Table>,
    /// Where the table came from, for people reading logs.
    elf: Option<PathBuf>,
    /// The frame being received, after its [`FRAME_START`].
    frame: Option<Vec<u8>>,
}

impl ConsoleDecoder {
    /// Decodes frames with `table`; without one, every frame is reported as undecodable.
    pub fn new(table: Option<Table>) -> ConsoleDecoder {
        ConsoleDecoder {
            table,
            elf: None,
            frame: None,
        }
    }

    /// For the output of `image`: with the defmt table of [`elf_of_image`] if that file exists
    /// and has one (a text-logging image has none, and then needs none).
    pub fn for_image(image: &Path) -> Result<ConsoleDecoder, TableError> {
        let elf = elf_of_image(image);
        if !elf.is_file() {
            return Ok(ConsoleDecoder::new(None));
        }
        let bytes = fs::read(&elf).map_err(|error| TableError::Read {
            elf: elf.clone(),
            error,
        })?;
        let table = Table::parse(&bytes).map_err(|error| TableError::Parse {
            elf: elf.clone(),
            error: format!("{error:#}"),
        })?;
        Ok(ConsoleDecoder {
            elf: table.is_some().then_some(elf),
            table,
            frame: None,
        })
    }

    /// The ELF file whose table decodes frames, if any.
    pub fn table_elf(&self) -> Option<&Path> {
        self.elf.as_deref()
    }

    /// Appends to `text` what `bytes` show: text as is, each complete frame as a line. A frame
    /// may be split across calls.
    pub fn decode(&mut self, bytes: &[u8], text: &mut Vec<u8>) {
        for &byte in bytes {
            match (&mut self.frame, byte) {
                (None, FRAME_START) => self.frame = Some(Vec::new()),
                (None, FRAME_END) => {}
                (None, byte) => text.push(byte),
                (Some(frame), FRAME_END) => {
                    let line = frame_line(self.table.as_ref(), frame);
                    push_line(text, &line);
                    self.frame = None;
                }
                (Some(frame), byte) if frame.len() < MAX_FRAME_LENGTH => frame.push(byte),
                (Some(_), byte) => {
                    let line =
                        format!("<undecodable defmt frame: more than {MAX_FRAME_LENGTH} bytes>");
                    push_line(text, &line);
                    self.frame = None;
                    text.push(byte);
                }
            }
        }
    }

    /// At the end of the stream: reports a frame left unfinished.
    pub fn finish(&mut self, text: &mut Vec<u8>) {
        if let Some(frame) = self.frame.take() {
            let line = format!("<defmt frame cut off after {} bytes>", frame.len());
            push_line(text, &line);
        }
    }
}

/// The message of one frame (its bytes between the markers), or why there is none.
fn frame_line(table: Option<&Table>, frame: &[u8]) -> String {
    let undecodable = || format!("<undecodable defmt frame: {} bytes>", frame.len());
    let Some(table) = table else {
        return undecodable();
    };
    let mut stream = table.new_stream_decoder();
    stream.received(frame);
    stream.received(&[FRAME_END]);
    match stream.decode() {
        Ok(record) => record.display_message().to_string(),
        Err(_) => undecodable(),
    }
}

/// A tagged line, CR LF as the hypervisor's text lines end (terminals in raw mode need the CR).
fn push_line(text: &mut Vec<u8>, message: &str) {
    text.extend_from_slice(TAG.as_bytes());
    text.extend_from_slice(message.replace('\n', "\r\n").as_bytes());
    text.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with one `println!` record, as `Table::parse` would build from an ELF file.
    fn table() -> Table {
        serde_json::from_str(
            r#"{
                "timestamp": null,
                "entries": {
                    "1": {
                        "string": {"tag": "Println", "string": "data abort at {=u64:#x} by {=str}"},
                        "raw_symbol": "test"
                    }
                },
                "bitflags": {},
                "encoding": "Rzcobs"
            }"#,
        )
        .expect("a valid table")
    }

    /// rzCOBS, as defmt's encoder writes it (defmt `src/encoding/rzcobs.rs`), without the
    /// separator.
    fn rzcobs(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut run, mut zeros) = (0u8, 0u8);
        for &byte in data {
            if run < 7 {
                if byte == 0 {
                    zeros |= 1 << run;
                } else {
                    out.push(byte);
                }
                run += 1;
                if run == 7 && zeros != 0 {
                    out.push(zeros);
                    (run, zeros) = (0, 0);
                }
            } else if byte == 0 {
                out.push((run - 7) | 0x80);
                (run, zeros) = (0, 0);
            } else {
                out.push(byte);
                run += 1;
                if run == 134 {
                    out.push(0xFF);
                    (run, zeros) = (0, 0);
                }
            }
        }
        match run {
            0 => {}
            1..=6 => out.push((zeros | (0xFF << run)) & 0x7F),
            _ => out.push((run - 7) | 0x80),
        }
        out
    }

    /// The frame hyp-arm sends for record 1 with `address` and `who`.
    fn frame(address: u64, who: &str) -> Vec<u8> {
        let mut record = 1u16.to_le_bytes().to_vec();
        record.extend_from_slice(&address.to_le_bytes());
        record.extend_from_slice(&(who.len() as u32).to_le_bytes());
        record.extend_from_slice(who.as_bytes());
        let mut frame = vec![FRAME_START];
        frame.extend(rzcobs(&record));
        frame.push(FRAME_END);
        frame
    }

    fn stream() -> Vec<u8> {
        let mut stream = b"guest says hi\r\n".to_vec();
        // defmt's encoder opens its first frame with a separator, before the marker.
        stream.push(FRAME_END);
        stream.extend(frame(0xb00_0000, "guest"));
        stream.extend_from_slice(b"$ ");
        stream
    }

    const DECODED: &str = "guest says hi\r\n[hyp] data abort at 0xb000000 by guest\r\n$ ";

    #[test]
    fn text_frame_text() {
        let mut decoder = ConsoleDecoder::new(Some(table()));
        let mut text = Vec::new();
        decoder.decode(&stream(), &mut text);
        decoder.finish(&mut text);
        assert_eq!(String::from_utf8(text).unwrap(), DECODED);
    }

    #[test]
    fn a_frame_split_across_reads() {
        let stream = stream();
        for chunk_size in 1..stream.len() {
            let mut decoder = ConsoleDecoder::new(Some(table()));
            let mut text = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                decoder.decode(chunk, &mut text);
            }
            assert_eq!(
                String::from_utf8(text).unwrap(),
                DECODED,
                "chunks of {chunk_size}"
            );
        }
    }

    #[test]
    fn bad_frames_are_reported_not_fatal() {
        let mut text = Vec::new();
        // No table: the frame is reported, the text around it kept.
        let mut without_table = ConsoleDecoder::new(None);
        let whole = frame(1, "x");
        without_table.decode(&whole, &mut text);
        // An index the table lacks.
        let mut decoder = ConsoleDecoder::new(Some(table()));
        decoder.decode(&[FRAME_START, 0x05, 0x7e, FRAME_END, b'o', b'k'], &mut text);
        // Cut off by the end of the stream.
        decoder.decode(&frame(1, "x")[..5], &mut text);
        decoder.finish(&mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!(
                "[hyp] <undecodable defmt frame: {} bytes>\r\n\
                 [hyp] <undecodable defmt frame: 2 bytes>\r\nok\
                 [hyp] <defmt frame cut off after 4 bytes>\r\n",
                whole.len() - 2
            )
        );
    }

    #[test]
    fn a_runaway_frame_gives_back_the_console() {
        let mut decoder = ConsoleDecoder::new(Some(table()));
        let mut text = Vec::new();
        let mut stream = vec![FRAME_START];
        stream.resize(1 + MAX_FRAME_LENGTH, b'x');
        stream.extend_from_slice(b"after");
        decoder.decode(&stream, &mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!("[hyp] <undecodable defmt frame: more than {MAX_FRAME_LENGTH} bytes>\r\nafter")
        );
    }

    #[test]
    fn the_elf_sits_next_to_the_image() {
        assert_eq!(
            elf_of_image(Path::new("target/images/qemu-virt/hyp-arm-defmt.img")),
            Path::new("target/images/qemu-virt/hyp-arm-defmt.elf")
        );
        let decoder = ConsoleDecoder::for_image(Path::new("/nonexistent/hyp-arm.img")).unwrap();
        assert!(decoder.table_elf().is_none());
    }
}

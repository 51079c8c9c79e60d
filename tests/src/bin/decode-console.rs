//! Decodes a recorded hyp-arm console: `decode-console <image or its .elf> < raw > text`.
//!
//! For output captured outside `cargo xtask run` (a serial terminal's log, a board's UART): the
//! guests' text passes through, hyp-arm's defmt frames become `[hyp] ...` lines, decoded with the
//! table of the ELF file the image was built from (docs/LOGGING.md). Reads until end of input,
//! writing as it goes, so it also works in a pipe from a live serial port.
#![forbid(unsafe_code)]

use std::env;
use std::io::{self, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use hyp_arm_system_tests::ConsoleDecoder;

fn main() -> ExitCode {
    let arguments: Vec<String> = env::args().skip(1).collect();
    let [image] = &arguments[..] else {
        eprintln!("usage: decode-console <target/images/<board>/hyp-arm-defmt.img or .elf> < raw");
        return ExitCode::FAILURE;
    };
    let decoder = match ConsoleDecoder::for_image(&PathBuf::from(image)) {
        Ok(decoder) if decoder.table_elf().is_some() => decoder,
        Ok(_) => {
            eprintln!(
                "decode-console: no defmt table for {image}: \
                 build it with `cargo xtask build --log defmt`"
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("decode-console: {error}");
            return ExitCode::FAILURE;
        }
    };
    match decode(decoder) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("decode-console: {error}");
            ExitCode::FAILURE
        }
    }
}

fn decode(mut decoder: ConsoleDecoder) -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut buffer = [0u8; 4096];
    let mut text = Vec::new();
    loop {
        let length = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(length) => length,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        text.clear();
        decoder.decode(&buffer[..length], &mut text);
        output.write_all(&text)?;
        output.flush()?;
    }
    text.clear();
    decoder.finish(&mut text);
    output.write_all(&text)?;
    output.flush()
}

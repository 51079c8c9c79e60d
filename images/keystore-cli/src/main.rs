//! `keystore-cli`: asks the secure domain's keystore (docs/KEYSTORE.md) over AF_VSOCK, at CID
//! `SECURE_DOMAIN_CID` (3) port `KEYSTORE_PORT` (5555), and prints the answer.
//!
//! ```text
//! keystore-cli pubkey            the Ed25519 public key, hex
//! keystore-cli sign MESSAGE      the Ed25519 signature of MESSAGE's bytes, hex
//! keystore-cli hmac NAME MESSAGE HMAC-SHA256 of MESSAGE with the key named NAME, hex
//! keystore-cli random N          N (1-256) random bytes, hex
//! keystore-cli counter           advances the monotonic counter, prints its value in decimal
//! keystore-cli faults            sends each kind of malformed request, checks every one is
//!                                refused with the right status and that the keystore still serves
//! keystore-cli bench N [OP]      N requests (OP = sign, the default, or pubkey) on one
//!                                connection after one untimed request; prints one line
//!                                `keystore-bench operation=.. requests=.. total_ns=.. mean_ns=..
//!                                min_ns=.. requests_per_s=..` (bench.rs)
//! ```
//!
//! Exits 0 on success, 1 when the keystore refuses or cannot be reached (with a sentence on
//! stderr), 2 on a usage error. Built as a static `aarch64-unknown-linux-musl` executable for
//! the guest's initramfs (`/bin/keystore-cli`); needs the `vmw_vsock_virtio_transport` module.

mod bench;
mod client;
mod vsock;

use std::process::ExitCode;

use hyp_arm_keystore_protocol::{Request, MAX_RANDOM_BYTES};

use bench::Operation;
use client::Client;

const USAGE: &str = "usage: keystore-cli pubkey | sign MESSAGE | hmac NAME MESSAGE | random N | \
                     counter | faults | bench N [sign|pubkey]";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    PublicKey,
    Sign(String),
    Hmac { name: String, message: String },
    Random(u16),
    Counter,
    Faults,
    Bench { requests: u32, operation: Operation },
}

fn parse(arguments: &[String]) -> Result<Command, String> {
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    Ok(match words.as_slice() {
        ["pubkey"] => Command::PublicKey,
        ["sign", message] => Command::Sign(message.to_string()),
        ["hmac", name, message] => Command::Hmac {
            name: name.to_string(),
            message: message.to_string(),
        },
        ["random", count] => {
            let count: u16 = count
                .parse()
                .ok()
                .filter(|&count| count >= 1 && usize::from(count) <= MAX_RANDOM_BYTES)
                .ok_or_else(|| format!("random: `{count}` is not a number from 1 to 256"))?;
            Command::Random(count)
        }
        ["counter"] => Command::Counter,
        ["faults"] => Command::Faults,
        ["bench", count] => bench_command(count, "sign")?,
        ["bench", count, operation] => bench_command(count, operation)?,
        _ => return Err(USAGE.to_string()),
    })
}

fn bench_command(count: &str, operation: &str) -> Result<Command, String> {
    let requests = count
        .parse()
        .ok()
        .filter(|&count| count >= 1)
        .ok_or_else(|| format!("bench: `{count}` is not a positive number"))?;
    let operation = Operation::parse(operation)
        .ok_or_else(|| format!("bench: `{operation}` is neither `sign` nor `pubkey`"))?;
    Ok(Command::Bench {
        requests,
        operation,
    })
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&arguments) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("keystore-cli: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&command) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("keystore-cli: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Carries out `command` and returns what to print.
fn run(command: &Command) -> Result<String, String> {
    let mut client = Client::connect()?;
    match command {
        Command::PublicKey => client.call(&Request::PublicKey).map(|key| hex(&key)),
        Command::Sign(message) => client
            .call(&Request::Sign {
                message: message.as_bytes(),
            })
            .map(|signature| hex(&signature)),
        Command::Hmac { name, message } => client
            .call(&Request::Hmac {
                key_name: name.as_bytes(),
                message: message.as_bytes(),
            })
            .map(|mac| hex(&mac)),
        Command::Random(count) => client
            .call(&Request::Random { count: *count })
            .map(|bytes| hex(&bytes)),
        Command::Counter => {
            let value = client.call(&Request::Counter)?;
            let value: [u8; 8] = value.try_into().map_err(|value: Vec<u8>| {
                format!("the counter came as {} bytes, not 8", value.len())
            })?;
            Ok(u64::from_le_bytes(value).to_string())
        }
        Command::Faults => client::check_faults(&mut client),
        Command::Bench {
            requests,
            operation,
        } => bench::run(&mut client, *operation, *requests).map(|summary| summary.line()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&words("pubkey")), Ok(Command::PublicKey));
        assert_eq!(parse(&words("sign hi")), Ok(Command::Sign("hi".into())));
        assert_eq!(
            parse(&words("hmac auth data")),
            Ok(Command::Hmac {
                name: "auth".into(),
                message: "data".into()
            })
        );
        assert_eq!(parse(&words("random 256")), Ok(Command::Random(256)));
        assert_eq!(parse(&words("counter")), Ok(Command::Counter));
        assert_eq!(
            parse(&words("bench 10")),
            Ok(Command::Bench {
                requests: 10,
                operation: Operation::Sign
            })
        );
        assert_eq!(
            parse(&words("bench 5 pubkey")),
            Ok(Command::Bench {
                requests: 5,
                operation: Operation::PublicKey
            })
        );
        assert_eq!(parse(&words("faults")), Ok(Command::Faults));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for line in [
            "random 0",
            "random 257",
            "random x",
            "sign",
            "pubkey x",
            "bench 0",
            "bench 10 counter",
            "bench 10 sign extra",
            "",
        ] {
            assert!(parse(&words(line)).is_err(), "{line}");
        }
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
    }
}

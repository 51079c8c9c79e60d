//! `keystore-cli bench N [sign|pubkey]`: N requests on one connection, timed with
//! CLOCK_MONOTONIC (`Instant`), reported as one `key=value` line.
//!
//! One untimed request goes first, so the connection, the pages of this program and the
//! service's first-call work are not in the figures. Each request is timed from the end of the
//! previous one (one clock read per request), so the mean is the whole loop's time divided by N
//! and the minimum shows one request with no timer tick or heartbeat landing in it.
//!
//! Under QEMU's `-icount shift=0,sleep=off` a nanosecond of the guest's clock is one instruction
//! executed by the emulated machine (docs/BENCHMARKS.md), so the nanosecond figures are printed
//! to the nanosecond rather than rounded to milliseconds.

use std::time::{Duration, Instant};

use hyp_arm_keystore_protocol::Request;

use crate::client::Client;

/// The message every benchmark SIGN request signs.
const MESSAGE: &[u8] = b"keystore benchmark message";

/// Which request the benchmark repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// SIGN of a 26-byte message: the transport plus an Ed25519 signature.
    Sign,
    /// PUBLIC_KEY: a 32-byte copy in the service, so about the transport alone.
    PublicKey,
}

impl Operation {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "sign" => Some(Operation::Sign),
            "pubkey" => Some(Operation::PublicKey),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Operation::Sign => "sign",
            Operation::PublicKey => "pubkey",
        }
    }

    fn request(self) -> Request<'static> {
        match self {
            Operation::Sign => Request::Sign { message: MESSAGE },
            Operation::PublicKey => Request::PublicKey,
        }
    }
}

/// What one benchmark run measured.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub operation: Operation,
    pub requests: u32,
    /// From the end of the warm-up request to the end of the last one.
    pub total: Duration,
    /// The fastest single request.
    pub fastest: Duration,
}

impl Summary {
    /// The line `keystore-cli bench` prints: `key=value` words, the nanosecond figures whole or
    /// to a tenth (the mean), the rate to a tenth.
    pub fn line(&self) -> String {
        let total_ns = self.total.as_nanos();
        let seconds = self.total.as_secs_f64().max(f64::MIN_POSITIVE);
        format!(
            "keystore-bench operation={} requests={} total_ns={} mean_ns={:.1} min_ns={} \
             requests_per_s={:.1}",
            self.operation.name(),
            self.requests,
            total_ns,
            total_ns as f64 / f64::from(self.requests.max(1)),
            self.fastest.as_nanos(),
            f64::from(self.requests) / seconds,
        )
    }
}

/// Sends one untimed `operation`, then `requests` timed ones, on `client`'s connection.
pub fn run(client: &mut Client, operation: Operation, requests: u32) -> Result<Summary, String> {
    let request = operation.request();
    client
        .call(&request)
        .map_err(|error| format!("the warm-up request: {error}"))?;
    let started = Instant::now();
    let mut previous = started;
    let mut fastest = Duration::MAX;
    for _ in 0..requests {
        client.call(&request)?;
        let now = Instant::now();
        fastest = fastest.min(now - previous);
        previous = now;
    }
    Ok(Summary {
        operation,
        requests,
        total: previous - started,
        fastest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_parse() {
        assert_eq!(Operation::parse("sign"), Some(Operation::Sign));
        assert_eq!(Operation::parse("pubkey"), Some(Operation::PublicKey));
        assert_eq!(Operation::parse("counter"), None);
    }

    #[test]
    fn the_line_has_nanosecond_precision_and_the_rate() {
        let summary = Summary {
            operation: Operation::Sign,
            requests: 3,
            total: Duration::from_nanos(1_000_001),
            fastest: Duration::from_nanos(333_000),
        };
        assert_eq!(
            summary.line(),
            "keystore-bench operation=sign requests=3 total_ns=1000001 mean_ns=333333.7 \
             min_ns=333000 requests_per_s=3000.0"
        );
    }
}

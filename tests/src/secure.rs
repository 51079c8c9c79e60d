//! What the secure domain (`images/secure-domain`) prints, and the checks built on it. Its lines
//! reach the console through hyp-arm's CONSOLE_WRITE hypercall, tagged `[secure] `.

use std::time::Duration;

use crate::runner::{Failure, Qemu};

/// Printed once when the secure domain starts (followed by its RTC reading and GIC version).
pub const UP: &str = "[secure] secure-domain: up";
/// Once a second: `[secure] secure-domain: heartbeat <n> uptime <ms> ms rtc <unix seconds>`.
pub const HEARTBEAT: &str = "[secure] secure-domain: heartbeat ";
/// hyp-arm's record when the secure domain reported ready (android starts after it).
pub const READY: &str = "[hyp] secure: ready";
/// A heartbeat comes every second of guest time; allow for a slow, busy host.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);

/// One heartbeat line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub count: u64,
    pub uptime_ms: u64,
    pub rtc_seconds: u64,
}

/// Waits for the next heartbeat and parses it.
pub fn next_heartbeat(qemu: &mut Qemu) -> Result<Heartbeat, Failure> {
    let line = qemu.wait_for_line(HEARTBEAT, HEARTBEAT_TIMEOUT)?;
    parse_heartbeat(&line)
        .ok_or_else(|| qemu.failure(format!("cannot read the heartbeat `{HEARTBEAT}{line}`")))
}

/// `<n> uptime <ms> ms rtc <seconds>` into its numbers.
pub fn parse_heartbeat(rest: &str) -> Option<Heartbeat> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [count, "uptime", uptime, "ms", "rtc", rtc] => Some(Heartbeat {
            count: count.parse().ok()?,
            uptime_ms: uptime.parse().ok()?,
            rtc_seconds: rtc.parse().ok()?,
        }),
        _ => None,
    }
}

/// The last heartbeat in the whole output so far.
pub fn last_heartbeat(qemu: &Qemu) -> Option<Heartbeat> {
    qemu.output()
        .lines()
        .filter_map(|line| parse_heartbeat(line.split_once(HEARTBEAT)?.1))
        .next_back()
}

/// Waits for `beats` heartbeats after `previous` and checks that they continue it: counts and
/// uptime rising (older lines the wait passes over are skipped). Whether the domain restarted is
/// told by [`UP`] appearing again; see [`check_started_once`]. Returns the last.
pub fn check_heartbeats_continue(
    qemu: &mut Qemu,
    previous: Heartbeat,
    beats: usize,
) -> Result<Heartbeat, Failure> {
    let mut last = previous;
    let mut seen = 0;
    while seen < beats {
        let beat = next_heartbeat(qemu)?;
        if beat.count <= previous.count {
            continue;
        }
        if beat.count <= last.count || beat.uptime_ms <= last.uptime_ms {
            return Err(qemu.failure(format!(
                "the secure domain's heartbeat went back: {last:?} then {beat:?}"
            )));
        }
        last = beat;
        seen += 1;
    }
    Ok(last)
}

/// The secure domain was never held up: between any two heartbeats (one a second) at most
/// `max_gap_ms` of its uptime passed. A domain sharing its CPU that kept it (a restart clearing
/// RAM, a spinning kernel) would show as a gap.
pub fn check_never_stalled(qemu: &Qemu, max_gap_ms: u64) -> Result<(), Failure> {
    let output = qemu.output();
    let beats: Vec<Heartbeat> = output
        .lines()
        .filter_map(|line| parse_heartbeat(line.split_once(HEARTBEAT)?.1))
        .collect();
    for pair in beats.windows(2) {
        let gap = pair[1].uptime_ms.saturating_sub(pair[0].uptime_ms);
        if gap > max_gap_ms {
            return Err(qemu.failure(format!(
                "the secure domain stalled: {gap} ms between heartbeats {} and {} (at most \
                 {max_gap_ms} ms allowed)",
                pair[0].count, pair[1].count
            )));
        }
    }
    Ok(())
}

/// The secure domain started exactly once (it never restarted).
pub fn check_started_once(qemu: &Qemu) -> Result<(), Failure> {
    match qemu.count(UP) {
        1 => Ok(()),
        starts => Err(qemu.failure(format!(
            "the secure domain started {starts} times; it must start once and keep running"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_lines_parse_and_garbage_does_not() {
        assert_eq!(
            parse_heartbeat("12 uptime 12034 ms rtc 1795277414"),
            Some(Heartbeat {
                count: 12,
                uptime_ms: 12034,
                rtc_seconds: 1_795_277_414
            })
        );
        assert_eq!(parse_heartbeat("12 uptime 12034 m"), None);
        assert_eq!(parse_heartbeat("x uptime 1 ms rtc 2"), None);
    }
}

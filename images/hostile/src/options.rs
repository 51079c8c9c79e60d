//! The guest's command line (`/chosen/bootargs`): `probe=BASE-END[,BASE-END...]` (physical ranges
//! to probe page by page), `stride=BYTES` (the step of the probe of the rest of the low 4 GiB,
//! every page by default; 0 turns it off), `exit=poweroff` (PSCI SYSTEM_OFF at the end instead of
//! idling) and `vsock-faults` (instead of the probes, drive the virtio-vsock device with malformed
//! queues and packets: see `vsock/mod.rs`).

use hyp_arm_guest_support::command_line::number;

use crate::machine::Region;

/// The most `probe=` ranges.
pub const MAX_RANGES: usize = 8;

/// The default step of the probe outside the `probe=` ranges: every page. Under QEMU TCG one
/// refused read costs about 7 us (hyp-arm, GICv3, 2024 laptop-class host), so all 2^20 pages of
/// the low 4 GiB take about 7 s; a larger `stride=` thins the probe out on slower hosts.
pub const DEFAULT_STRIDE: u64 = 4096;

pub struct Options {
    pub ranges: [Region; MAX_RANGES],
    pub range_count: usize,
    pub stride: u64,
    pub power_off: bool,
    /// Run the virtio-vsock fault injection instead of the isolation probes.
    pub vsock_faults: bool,
}

/// What is wrong with the command line, as a sentence.
pub struct Error(pub &'static str);

pub fn parse(command_line: &[u8]) -> Result<Options, Error> {
    let mut options = Options {
        ranges: [Region::default(); MAX_RANGES],
        range_count: 0,
        stride: DEFAULT_STRIDE,
        power_off: false,
        vsock_faults: false,
    };
    for word in command_line
        .split(|&byte| byte == b' ')
        .filter(|word| !word.is_empty())
    {
        if let Some(list) = word.strip_prefix(b"probe=") {
            for range in list.split(|&byte| byte == b',') {
                let mut ends = range.split(|&byte| byte == b'-');
                let (Some(base), Some(end), None) = (ends.next(), ends.next(), ends.next()) else {
                    return Err(Error("probe= takes BASE-END ranges separated by commas"));
                };
                let (Some(base), Some(end)) = (number(base), number(end)) else {
                    return Err(Error(
                        "probe=: a range end is not a number (0x... or decimal)",
                    ));
                };
                if base >= end {
                    return Err(Error("probe=: a range ends before it starts"));
                }
                if options.range_count == MAX_RANGES {
                    return Err(Error("probe=: more than 8 ranges"));
                }
                options.ranges[options.range_count] = Region { base, end };
                options.range_count += 1;
            }
        } else if let Some(value) = word.strip_prefix(b"stride=") {
            options.stride = number(value).ok_or(Error("stride= is not a number"))?;
        } else if word == b"exit=poweroff" {
            options.power_off = true;
        } else if word == b"vsock-faults" {
            options.vsock_faults = true;
        }
    }
    Ok(options)
}

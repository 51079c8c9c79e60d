//! Hypercall misuse: function IDs nobody assigned, CONSOLE_WRITE with impossible lengths, the
//! secure domain's TRUSTED_TIME_SET, PSCI calls naming CPUs the guest does not have or entry
//! points outside its RAM.

use crate::hypercall::{
    self, CHANNEL_NOTIFY, CONSOLE_WRITE, DENIED, HYP_LAST_ASSIGNED, HYP_VERSION,
    INVALID_PARAMETERS, NOT_SUPPORTED, PSCI_AFFINITY_INFO, PSCI_CPU_ON, TRUSTED_TIME_SET,
};
use crate::machine::Machine;
use crate::tally;

/// Random function IDs tried besides the unassigned hyp-arm ones.
const RANDOM_CALLS: usize = 32;

pub fn misuse(machine: &Machine) {
    // Unassigned numbers in hyp-arm's own range, and its far end.
    for function in (HYP_LAST_ASSIGNED + 1..HYP_LAST_ASSIGNED + 17)
        .chain([HYP_VERSION | 0xffff, HYP_VERSION | 0x00ff_ffff])
    {
        expect("hvc-unknown", function, [0; 6], |result| {
            result == NOT_SUPPORTED
        });
    }
    // Random IDs outside the services that exist (PSCI 0x84/0xC4, SMCCC architecture 0x80,
    // hyp-arm's 0xC6 with numbers 0-6).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut tried = 0;
    while tried < RANDOM_CALLS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let function = state & 0xffff_ffff;
        let service = function >> 24;
        let assigned = matches!(service, 0x80 | 0x84 | 0xc4)
            || (service == 0xc6 && function <= HYP_LAST_ASSIGNED);
        if assigned {
            continue;
        }
        expect(
            "hvc-random",
            function,
            [state, !state, 0, 0, 0, 0],
            |result| result == NOT_SUPPORTED,
        );
        tried += 1;
    }

    // CHANNEL_NOTIFY is for a channel's backend (the secure domain); the android slot is a
    // frontend at most, so every channel number is refused.
    for channel in [0, 1, u64::MAX] {
        expect(
            "channel-notify",
            CHANNEL_NOTIFY,
            [channel, 0, 0, 0, 0, 0],
            |result| result == INVALID_PARAMETERS,
        );
    }

    // Only a secure-role domain may set the time the goldfish RTC and others read.
    for unix_nanoseconds in [0, 1_795_000_000_000_000_000, u64::MAX] {
        expect(
            "trusted-time-set",
            TRUSTED_TIME_SET,
            [unix_nanoseconds, 0, 0, 0, 0, 0],
            |result| result == DENIED,
        );
    }

    // CONSOLE_WRITE carries 1 to 40 bytes.
    for length in [0, 41, u64::MAX] {
        expect(
            "console-write-length",
            CONSOLE_WRITE,
            [length, 0x4141, 0, 0, 0, 0],
            |result| result == INVALID_PARAMETERS,
        );
    }

    // PSCI: an entry point outside RAM for an existing vCPU (this one: MPIDR 0), and CPUs that
    // do not exist. Each must fail (a negative status).
    let outside = machine.ram.end + 0x1000;
    let entry = machine.ram.base + 0x1000;
    let failed = |result: u64| (result as i64) < 0;
    expect(
        "psci-cpu-on-entry",
        PSCI_CPU_ON,
        [0, outside, 0, 0, 0, 0],
        failed,
    );
    expect("psci-cpu-on-entry", PSCI_CPU_ON, [0, 0, 0, 0, 0, 0], failed);
    for mpidr in [machine.cpu_count, 0xff, 0x100, 0xff_00ff_ffff] {
        expect(
            "psci-cpu-on-mpidr",
            PSCI_CPU_ON,
            [mpidr, entry, 0, 0, 0, 0],
            failed,
        );
        expect(
            "psci-affinity-info",
            PSCI_AFFINITY_INFO,
            [mpidr, 0, 0, 0, 0, 0],
            failed,
        );
    }
}

/// Makes the call and records it as leaked unless `refused` holds for the result.
fn expect(what: &str, function: u64, arguments: [u64; 6], refused: impl Fn(u64) -> bool) {
    let result = hypercall::call(function, arguments);
    tally::record(what, function, !refused(result));
}

//! hyp-arm's own hypercalls (docs/HYPERCALLS.md): SMCCC fast calls with `hvc #0`, function ID
//! in w0, arguments in x1-x6, results in x0-x3.

use core::arch::asm;

use hyp_arm_secure_domain::console_chunks::{pack_registers, CHUNK_SIZE};

/// HYP_VERSION: x0 = major << 16 | minor.
const HYP_VERSION: u64 = 0xC600_0000;
/// CONSOLE_WRITE: x1 = byte count 1..=40, x2..x6 = the bytes.
const CONSOLE_WRITE: u64 = 0xC600_0002;
/// DOMAIN_READY: domains that start after this one may start now.
const DOMAIN_READY: u64 = 0xC600_0003;
/// CHANNEL_NOTIFY: x1 = the channel's index (its position among the tree's channel nodes);
/// hyp-arm then moves what the backend put into, or freed in, that channel's rings.
const CHANNEL_NOTIFY: u64 = 0xC600_0005;
/// TRUSTED_TIME_SET: x1 = UNIX time in nanoseconds, which hyp-arm's emulated clocks then follow.
const TRUSTED_TIME_SET: u64 = 0xC600_0006;

/// One SMCCC call with up to six arguments; returns x0.
fn call(function: u64, arguments: [u64; 6]) -> i64 {
    let result: u64;
    // SAFETY: an SMCCC call (Arm DEN 0028): the hypervisor may change x0-x17 and nothing else of
    // ours; hyp-arm's calls read only their register arguments and touch none of our memory.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") function => result,
            inout("x1") arguments[0] => _,
            inout("x2") arguments[1] => _,
            inout("x3") arguments[2] => _,
            inout("x4") arguments[3] => _,
            inout("x5") arguments[4] => _,
            inout("x6") arguments[5] => _,
            clobber_abi("C"),
            options(nostack),
        );
    }
    result as i64
}

/// Writes up to 40 bytes to the domain's console; more are cut off by the caller's chunking.
/// Returns the hypervisor's status (0, or -2 for a bad count).
pub fn console_write(bytes: &[u8]) -> i64 {
    let length = bytes.len().min(CHUNK_SIZE);
    let [first, second, third, fourth, fifth] = pack_registers(&bytes[..length]);
    call(
        CONSOLE_WRITE,
        [length as u64, first, second, third, fourth, fifth],
    )
}

/// Tells the hypervisor the domain is up; returns its status (0).
pub fn domain_ready() -> i64 {
    call(DOMAIN_READY, [0; 6])
}

/// Rings hyp-arm for channel `index`; returns its status (0).
pub fn channel_notify(index: u32) -> i64 {
    call(CHANNEL_NOTIFY, [u64::from(index), 0, 0, 0, 0, 0])
}

/// Publishes UNIX time (nanoseconds) to hyp-arm; returns its status (0, -3 DENIED for a domain
/// that is not secure-role, -2 for a time before the counter started).
pub fn trusted_time_set(unix_nanoseconds: u64) -> i64 {
    call(TRUSTED_TIME_SET, [unix_nanoseconds, 0, 0, 0, 0, 0])
}

/// hyp-arm's interface version, major << 16 | minor; negative if the call is not supported.
pub fn hyp_version() -> i64 {
    call(HYP_VERSION, [0; 6])
}

//! The memory probe: one 8-byte read of every 4 KiB page of the `probe=` ranges, a write to the
//! first page of each, one read every `stride=` bytes elsewhere in the low 4 GiB, and a few reads
//! far above it. The guest's own RAM and devices are skipped. A read that returns is a leak.

use core::arch::asm;

use crate::console::Line;
use crate::fault::{self, Outcome};
use crate::machine::Machine;
use crate::options::Options;
use crate::tally;

const PAGE: u64 = 4096;
/// The low 4 GiB, which the sparse probe covers.
const LOW_END: u64 = 1 << 32;
/// Far addresses: QEMU virt's high redistributors and PCI windows (256 GiB up), the top of a
/// 40-bit IPA space, and beyond what stage 2 can translate.
const FAR_ADDRESSES: [u64; 5] = [
    0x1_0000_0000,
    0x40_0000_0000,
    0x80_0000_0000,
    0xff_ffff_f000,
    0xffff_ffff_f000,
];

/// Probes memory as described above; prints how many pages and how long it took.
pub fn probe(machine: &Machine, options: &Options) {
    let start = counter();
    let tried_before = tally::tried();
    let ranges = &options.ranges[..options.range_count];
    for range in ranges {
        let first = range.base & !(PAGE - 1);
        if !machine.owns_address(first) {
            let outcome = write(first, 0x484f_5354_494c_4521);
            tally::record("memory-write", first, !outcome.faulted());
        }
        let mut page = first;
        while page < range.end {
            if !machine.owns_address(page) {
                tally::record("memory-read", page, !read(page).faulted());
            }
            page = match page.checked_add(PAGE) {
                Some(next) => next,
                None => break,
            };
        }
    }
    if options.stride >= PAGE {
        let mut address = 0;
        while address < LOW_END {
            let probed = ranges.iter().any(|range| range.contains(address));
            if !probed && !machine.owns_address(address) {
                tally::record("memory-read", address, !read(address).faulted());
            }
            address += options.stride & !(PAGE - 1);
        }
    }
    for address in FAR_ADDRESSES {
        if !machine.owns_address(address) {
            tally::record("memory-read", address, !read(address).faulted());
        }
    }
    let ticks = counter() - start;
    Line::new()
        .text("HOSTILE-MEMORY probes=")
        .number(tally::tried() - tried_before)
        .text(" ms=")
        .number(ticks * 1000 / frequency().max(1))
        .print();
}

/// One 8-byte read of `address`.
pub fn read(address: u64) -> Outcome {
    fault::attempt(|| {
        let value: u64;
        // SAFETY: the access may fault, which the vector table turns into a recorded fault and
        // a resumption after this single instruction; the value is only returned, never trusted.
        unsafe { asm!("ldr {value}, [{address}]", address = in(reg) address, value = out(reg) value, options(nostack)) };
        value
    })
    .1
}

/// One 8-byte write of `value` to `address`.
pub fn write(address: u64, value: u64) -> Outcome {
    fault::attempt(|| {
        // SAFETY: as for `read`; the address is outside this guest's RAM (the caller skips its
        // own memory), so no Rust object changes.
        unsafe { asm!("str {value}, [{address}]", address = in(reg) address, value = in(reg) value, options(nostack)) };
    })
    .1
}

/// The virtual counter.
pub fn counter() -> u64 {
    let ticks: u64;
    // SAFETY: reads a counter register; no memory is touched.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

fn frequency() -> u64 {
    let hertz: u64;
    // SAFETY: as in `counter`.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) hertz, options(nomem, nostack)) };
    hertz
}

//! The score: every misuse tried, and whether it was blocked or leaked. Leaks are printed as they
//! are found (`HOSTILE-LEAK <what> <address>`), the first [`LEAK_LINES`] of them.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::console::Line;

/// Leak lines printed at most; the summary counts all of them.
const LEAK_LINES: u64 = 64;

static TRIED: AtomicU64 = AtomicU64::new(0);
static BLOCKED: AtomicU64 = AtomicU64::new(0);
static LEAKED: AtomicU64 = AtomicU64::new(0);

/// Counts one attempt: `leaked` says it reached what it must not.
pub fn record(what: &str, address: u64, leaked: bool) {
    TRIED.fetch_add(1, Ordering::Relaxed);
    if !leaked {
        BLOCKED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let count = LEAKED.fetch_add(1, Ordering::Relaxed) + 1;
    if count <= LEAK_LINES {
        Line::new()
            .text("HOSTILE-LEAK ")
            .text(what)
            .text(" ")
            .hex(address)
            .print();
    }
}

/// Attempts so far.
pub fn tried() -> u64 {
    TRIED.load(Ordering::Relaxed)
}

/// `HOSTILE-SUMMARY tried=N blocked=M leaked=L`.
pub fn print_summary() {
    Line::new()
        .text("HOSTILE-SUMMARY tried=")
        .number(TRIED.load(Ordering::Relaxed))
        .text(" blocked=")
        .number(BLOCKED.load(Ordering::Relaxed))
        .text(" leaked=")
        .number(LEAKED.load(Ordering::Relaxed))
        .print();
}

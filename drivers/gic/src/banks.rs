//! The per-interrupt register banks (a bit, a byte or two bits per interrupt) that every GIC distributor
//! and redistributor map shares; the operations on them are written once, here.

use core::hint::spin_loop;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;

use crate::{GicError, IntId, Trigger};

/// Read-modify-write of GICD_ICFGR/GICR_ICFGR1 is the only register update here that is not a single
/// write, and the word is shared by 16 interrupts that may belong to different domains configured from
/// different CPUs. Exclusive loads need Normal cacheable memory (Arm ARM B2.9), so take this only with
/// the MMU and data cache on.
static CONFIGURATION_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// How many times a "wait until the GIC is done" loop polls before giving up: about a second of MMIO
/// reads on real hardware, which is orders of magnitude more than any GIC takes.
const POLL_LIMIT: u32 = 1 << 20;

/// Writes `intid`'s bit alone into a one-bit-per-interrupt bank. Used on the write-1-to-set and
/// write-1-to-clear banks (ISENABLER, ICENABLER, ISPENDR, ...), where the zeros leave other interrupts
/// untouched (IHI 0048B, GICD_ISENABLERn; IHI 0069, `GICD_ISENABLER<n>`).
pub(crate) fn write_bit(bank: &[ReadWrite<u32>], intid: IntId) {
    if let Some(register) = bank.get(intid.index() / 32) {
        register.set(1 << (intid.index() % 32));
    }
}

/// Reads `intid`'s bit in a one-bit-per-interrupt bank.
pub(crate) fn read_bit(bank: &[ReadWrite<u32>], intid: IntId) -> bool {
    bank.get(intid.index() / 32)
        .is_some_and(|register| register.get() & 1 << (intid.index() % 32) != 0)
}

/// Writes `intid`'s byte in a byte-per-interrupt bank (IPRIORITYR, ITARGETSR), which the GIC accepts as a
/// byte access (IHI 0048B, GICD_IPRIORITYRn; IHI 0069, `GICD_IPRIORITYR<n>`).
pub(crate) fn write_byte(bank: &[ReadWrite<u8>], intid: IntId, value: u8) {
    if let Some(register) = bank.get(intid.index()) {
        register.set(value);
    }
}

/// Sets `Int_config[1]` (bit 2F+1 of ICFGR word F/16: 1 edge, 0 level) for `intid`.
pub(crate) fn write_trigger(icfgr: &[ReadWrite<u32>], intid: IntId, trigger: Trigger) {
    let Some(register) = icfgr.get(intid.index() / 16) else {
        return;
    };
    let bit = 1 << (2 * (intid.index() % 16) + 1);
    let _guard = CONFIGURATION_LOCK.lock();
    let value = register.get();
    register.set(match trigger {
        Trigger::Edge => value | bit,
        Trigger::Level => value & !bit,
    });
}

/// Writes `value` to every word of a bank whose words cover interrupts `first..limit` (32 per word).
pub(crate) fn fill_words(bank: &[ReadWrite<u32>], first: u32, limit: u32, value: u32) {
    let words = bank.iter().take(limit.div_ceil(32) as usize);
    for register in words.skip(first as usize / 32) {
        register.set(value);
    }
}

/// Polls until `done` holds, or fails naming `what` after [`POLL_LIMIT`] tries.
pub(crate) fn wait_until(
    what: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), GicError> {
    for _ in 0..POLL_LIMIT {
        if done() {
            return Ok(());
        }
        spin_loop();
    }
    Err(GicError::Timeout(what))
}

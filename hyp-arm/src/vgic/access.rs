//! What emulated accesses return: errors, ignored interrupts, and the vCPUs to kick.
#![forbid(unsafe_code)]

use core::fmt;

use super::config::MAX_VCPUS;

/// A set of vCPU indices (all below `MAX_VCPUS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSet(u8);

impl VcpuSet {
    pub const EMPTY: Self = Self(0);

    /// The set of the vCPUs whose bits are set in `bits`.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// One bit per vCPU, bit i for vCPU i.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Adds `vcpu`; an index of `MAX_VCPUS` or more is ignored.
    pub fn insert(&mut self, vcpu: usize) {
        if vcpu < MAX_VCPUS {
            self.0 |= 1 << vcpu;
        }
    }

    pub fn contains(self, vcpu: usize) -> bool {
        vcpu < MAX_VCPUS && self.0 & (1 << vcpu) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The vCPU indices, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        super::intid_bitmap::set_bit_indices(u32::from(self.0)).map(|vcpu| vcpu as usize)
    }
}

/// Interrupts the domain does not own that a write tried to enable, pend or activate: the write
/// was ignored for them (RAZ/WI), and the caller logs "domain X touched interrupt N".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgnoredInterrupts {
    /// The lowest such INTID.
    pub first_intid: u32,
    /// How many this access touched.
    pub count: u32,
}

/// The result of an emulated register write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// vCPUs with new work (an interrupt to put in a list register, or a list register to
    /// update): the caller sends a physical IPI to those running on other physical CPUs.
    pub kick: VcpuSet,
    /// Interrupts the domain does not own that the write tried to enable, pend or activate.
    /// Configuration and clear writes to them are ignored silently: Linux writes every SPI's
    /// priority, routing, trigger and enable-clear at boot, owned or not.
    pub ignored: Option<IgnoredInterrupts>,
}

impl WriteOutcome {
    pub(crate) fn note_ignored(&mut self, intid: u32) {
        match &mut self.ignored {
            Some(ignored) => {
                ignored.first_intid = ignored.first_intid.min(intid);
                ignored.count += 1;
            }
            None => {
                self.ignored = Some(IgnoredInterrupts {
                    first_intid: intid,
                    count: 1,
                })
            }
        }
    }
}

/// A register access the vGIC refused; the vGIC state is unchanged. The caller logs it and
/// treats it as RAZ/WI (or injects an abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicAccessError {
    /// The vCPU index is not one of this domain's (a caller bug).
    InvalidVcpu { vcpu: usize },
    /// The offset is beyond the emulated frame.
    OffsetOutOfRange { offset: u64 },
    /// Not a 1, 2, 4 or 8-byte access, or a width this register does not support.
    UnsupportedWidth { offset: u64, width: u8 },
    /// The offset is not a multiple of the access width.
    Misaligned { offset: u64, width: u8 },
    /// A redistributor access on a GICv2 vGIC.
    NotGicV3,
}

impl fmt::Display for VgicAccessError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidVcpu { vcpu } => write!(formatter, "vGIC access from unknown vCPU {vcpu}"),
            Self::OffsetOutOfRange { offset } => {
                write!(
                    formatter,
                    "vGIC access at offset {offset:#x} beyond the emulated frame"
                )
            }
            Self::UnsupportedWidth { offset, width } => write!(
                formatter,
                "vGIC access of {width} bytes at offset {offset:#x}, a width this register lacks"
            ),
            Self::Misaligned { offset, width } => {
                write!(
                    formatter,
                    "vGIC access of {width} bytes at unaligned offset {offset:#x}"
                )
            }
            Self::NotGicV3 => write!(formatter, "redistributor access on a GICv2 vGIC"),
        }
    }
}

/// A call the vGIC refused (caller bugs or misrouted interrupts, never guest input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicError {
    /// The vCPU index is not one of this domain's.
    InvalidVcpu { vcpu: usize },
    /// The INTID is not implemented by this vGIC.
    NoSuchInterrupt { intid: u32 },
    /// The SPI belongs to another domain (the physical routing is wrong).
    NotOwned { intid: u32 },
}

impl fmt::Display for VgicError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidVcpu { vcpu } => write!(formatter, "vGIC: no vCPU {vcpu} in this domain"),
            Self::NoSuchInterrupt { intid } => {
                write!(formatter, "vGIC: INTID {intid} is not implemented")
            }
            Self::NotOwned { intid } => {
                write!(
                    formatter,
                    "vGIC: interrupt {intid} does not belong to this domain"
                )
            }
        }
    }
}

/// The access widths a register supports (IHI 0069, "GIC memory-mapped register access" in the
/// programmers' model: 32-bit for every register, byte access too for the byte-per-interrupt ones,
/// 64-bit or either 32-bit half for the 64-bit ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Widths {
    Word,
    ByteOrWord,
    WordOrDoubleword,
    /// Reserved space: any aligned access reads as zero.
    Any,
}

/// Checks an access's width and alignment.
#[inline]
pub(crate) fn check_access(offset: u64, width: u8, allowed: Widths) -> Result<(), VgicAccessError> {
    if !matches!(width, 1 | 2 | 4 | 8) {
        return Err(VgicAccessError::UnsupportedWidth { offset, width });
    }
    if !offset.is_multiple_of(u64::from(width)) {
        return Err(VgicAccessError::Misaligned { offset, width });
    }
    let supported = match allowed {
        Widths::Word => width == 4,
        Widths::ByteOrWord => width == 1 || width == 4,
        Widths::WordOrDoubleword => width == 4 || width == 8,
        Widths::Any => true,
    };
    if supported {
        Ok(())
    } else {
        Err(VgicAccessError::UnsupportedWidth { offset, width })
    }
}

/// The bits of a `width`-byte write value.
pub(crate) fn truncate(value: u64, width: u8) -> u64 {
    match width {
        1 => value & 0xFF,
        2 => value & 0xFFFF,
        4 => value & 0xFFFF_FFFF,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_set_ignores_out_of_range() {
        let mut set = VcpuSet::EMPTY;
        set.insert(3);
        set.insert(8);
        set.insert(usize::MAX);
        assert_eq!(set.iter().collect::<Vec<_>>(), [3]);
        assert!(!set.contains(8));
    }

    #[test]
    fn widths_and_alignment() {
        assert_eq!(check_access(0x400, 1, Widths::ByteOrWord), Ok(()));
        assert_eq!(
            check_access(0x401, 4, Widths::ByteOrWord),
            Err(VgicAccessError::Misaligned {
                offset: 0x401,
                width: 4
            })
        );
        assert_eq!(
            check_access(0x100, 2, Widths::Word),
            Err(VgicAccessError::UnsupportedWidth {
                offset: 0x100,
                width: 2
            })
        );
        assert_eq!(
            check_access(0x100, 3, Widths::Any),
            Err(VgicAccessError::UnsupportedWidth {
                offset: 0x100,
                width: 3
            })
        );
        assert_eq!(check_access(0x6104, 4, Widths::WordOrDoubleword), Ok(()));
    }

    #[test]
    fn ignored_interrupts_accumulate() {
        let mut outcome = WriteOutcome::default();
        outcome.note_ignored(40);
        outcome.note_ignored(35);
        assert_eq!(
            outcome.ignored,
            Some(IgnoredInterrupts {
                first_intid: 35,
                count: 2
            })
        );
    }
}

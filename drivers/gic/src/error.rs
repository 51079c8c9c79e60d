//! Errors from the GIC drivers.

use core::fmt;

use crate::IntId;

/// Why a GIC operation was refused or did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// The value is not an SGI, PPI or SPI number (0..=1019); 1020..=1023 are special and LPIs are unsupported.
    InvalidIntId(u32),
    /// SGIs are numbered 0..=15.
    InvalidSgi(u8),
    /// The interrupt is beyond the lines this GIC implements (GICD_TYPER.ITLinesNumber).
    NotImplemented { intid: IntId, lines: u32 },
    /// An SGI or PPI given where only an SPI makes sense (GICv3 distributor, SPI routing or targeting).
    NotShared(IntId),
    /// An SPI given to a GICv3 redistributor, which only holds SGIs and PPIs.
    NotPrivate(IntId),
    /// SGIs are always edge-triggered; their configuration cannot change (IHI 0048B, GICD_ICFGRn; IHI 0069, GICR_ICFGR0).
    NotConfigurable(IntId),
    /// A CPU target for the other GIC version, or a GICv2 CPU interface number above 7.
    InvalidTarget(crate::PhysicalCpuTarget),
    /// An SGI range selector above 15, or above 0 on a GIC without range selection (ICC_CTLR_EL1.RSS):
    /// the target's Aff0 is 16 or more.
    RangeSelector(u8),
    /// A list register index at or beyond the number of list registers the hardware has.
    ListRegisterOutOfRange { index: usize, count: usize },
    /// A list register value the GIC version cannot encode (the message names the field).
    ListRegisterField(&'static str),
    /// A register did not reach the awaited state within the polling limit (the message names it).
    Timeout(&'static str),
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidIntId(raw) => write!(
                f,
                "interrupt ID {raw} is not an SGI, PPI or SPI (valid: 0 to 1019)"
            ),
            Self::InvalidSgi(sgi) => write!(f, "SGI {sgi} does not exist (valid: 0 to 15)"),
            Self::NotImplemented { intid, lines } => write!(
                f,
                "interrupt {intid} is beyond the {lines} interrupt IDs this GIC implements"
            ),
            Self::NotShared(intid) => write!(
                f,
                "interrupt {intid} is an SGI or PPI, but this operation needs an SPI"
            ),
            Self::NotPrivate(intid) => write!(
                f,
                "interrupt {intid} is an SPI; a GICv3 redistributor only holds SGIs and PPIs"
            ),
            Self::NotConfigurable(intid) => write!(
                f,
                "interrupt {intid} is an SGI, which is always edge-triggered"
            ),
            Self::InvalidTarget(target) => write!(
                f,
                "{target:?} cannot be a target on this GIC (wrong GIC version or interface number above 7)"
            ),
            Self::RangeSelector(range_selector) => write!(
                f,
                "SGI range selector {range_selector} (Aff0 {} and up) is not supported by this GIC",
                u16::from(*range_selector) * 16
            ),
            Self::ListRegisterOutOfRange { index, count } => write!(
                f,
                "list register {index} does not exist: this GIC has {count}"
            ),
            Self::ListRegisterField(field) => {
                write!(f, "list register value does not fit: {field}")
            }
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl core::error::Error for GicError {}

//! Where the two 4 KiB pages of a GICv2 CPU interface frame (GICC, or the virtual GICV) are: next
//! to each other, or, on a GIC-400 wired with 64 KiB pages, each repeated across its own 64 KiB.
//!
//! A GICv2 CPU interface is 8 KiB: GICC_CTLR..GICC_IIDR in the first page and GICC_DIR alone at
//! +0x1000 (IHI 0048B, 4.3 and 4.4.15). Some SoCs (Xilinx ZynqMP, AMD Seattle) put the GIC-400 on
//! a bus with 64 KiB pages: the frame is then 128 KiB, page 0 appears 16 times in its first
//! 64 KiB and page 1 16 times in its second, so GICC_DIR is at +0x10000. The last copy of page 0
//! (+0xf000) and the first of page 1 (+0x10000) are adjacent: an 8 KiB window starting at
//! +0xf000 is an ordinary CPU interface, which is what the hypervisor's own driver uses. A guest's
//! 8 KiB view is built from the two pages with one 4 KiB stage-2 mapping each.
//!
//! Only the tree is read: a 128 KiB `reg` entry is taken as this layout (the only layout a GICv2
//! frame of that size has in practice; Linux checks GICC_IIDR at +0 and +0xf000 as well, which
//! needs the hardware).
#![forbid(unsafe_code)]

use super::memory::MemoryRange;

/// A GICv2 CPU interface page.
pub const GICV2_PAGE_SIZE: u64 = 0x1000;
/// The size of a GICv2 CPU interface (and of the virtual one that guests see): two pages.
pub const GICV2_CPU_INTERFACE_SIZE: u64 = 2 * GICV2_PAGE_SIZE;
/// The size of a GICv2 CPU interface frame with 64 KiB-aliased pages.
pub const GICV2_ALIASED_FRAME_SIZE: u64 = 2 * GICV2_ALIAS_SPAN;
/// How far each page of an aliased frame repeats: one 64 KiB bus page.
const GICV2_ALIAS_SPAN: u64 = 0x1_0000;

/// How a frame lays out its two pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gicv2FrameLayout {
    /// Page 1 directly follows page 0 (the architecture's layout).
    Contiguous,
    /// Each page repeats across its own 64 KiB: page 1 starts at +0x10000.
    Aliased64KiB,
}

/// The physical pages of one GICv2 CPU interface frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gicv2FramePages {
    pub layout: Gicv2FrameLayout,
    /// Page 0: GICC_CTLR (GICV_CTLR) to GICC_IIDR.
    pub first: u64,
    /// Page 1: GICC_DIR (GICV_DIR).
    pub second: u64,
}

impl Gicv2FramePages {
    /// The pages of the frame `frame` (a `reg` entry of the GIC node); `None` if it is smaller
    /// than the 8 KiB a CPU interface needs.
    pub fn of(frame: MemoryRange) -> Option<Self> {
        if frame.size < GICV2_CPU_INTERFACE_SIZE || !frame.is_representable() {
            return None;
        }
        let (layout, offset) = if frame.size == GICV2_ALIASED_FRAME_SIZE {
            (Gicv2FrameLayout::Aliased64KiB, GICV2_ALIAS_SPAN)
        } else {
            (Gicv2FrameLayout::Contiguous, GICV2_PAGE_SIZE)
        };
        Some(Self {
            layout,
            first: frame.base,
            // `is_representable` and size >= offset + 4 KiB: no overflow.
            second: frame.base + offset,
        })
    }

    /// The stage-2 mappings that give a guest an ordinary 8 KiB CPU interface at `guest_base` from
    /// these (GICV) pages: `(ipa, physical address)` of one 4 KiB page each.
    pub fn guest_mappings(&self, guest_base: u64) -> [(u64, u64); 2] {
        [
            (guest_base, self.first),
            (guest_base.saturating_add(GICV2_PAGE_SIZE), self.second),
        ]
    }

    /// The start of an 8 KiB window in which the two pages are adjacent (GICC_DIR at +0x1000): the
    /// frame's base, or the last copy of page 0 in an aliased frame.
    pub fn contiguous_window(&self) -> u64 {
        self.second - GICV2_PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_8_kib_frame_is_contiguous() {
        let pages = Gicv2FramePages::of(MemoryRange::new(0x0801_0000, 0x2000)).expect("8 KiB");
        assert_eq!(pages.layout, Gicv2FrameLayout::Contiguous);
        assert_eq!((pages.first, pages.second), (0x0801_0000, 0x0801_1000));
        assert_eq!(pages.contiguous_window(), 0x0801_0000);
    }

    #[test]
    fn a_64_kib_frame_is_contiguous_too() {
        // RK3399's legacy GICv2 frames are 64 KiB with the architecture's layout inside.
        let pages = Gicv2FramePages::of(MemoryRange::new(0xfff0_0000, 0x1_0000)).expect("64 KiB");
        assert_eq!(pages.layout, Gicv2FrameLayout::Contiguous);
        assert_eq!(pages.second, 0xfff0_1000);
    }

    #[test]
    fn a_128_kib_frame_repeats_each_page_every_64_kib() {
        // ZCU102's GICC.
        let pages = Gicv2FramePages::of(MemoryRange::new(0xf902_0000, 0x2_0000)).expect("128 KiB");
        assert_eq!(pages.layout, Gicv2FrameLayout::Aliased64KiB);
        assert_eq!((pages.first, pages.second), (0xf902_0000, 0xf903_0000));
        // The last copy of page 0 is right below page 1.
        assert_eq!(pages.contiguous_window(), 0xf902_f000);
        assert_eq!(pages.contiguous_window() + GICV2_PAGE_SIZE, pages.second);
    }

    #[test]
    fn a_guest_sees_gicv_page_1_right_after_page_0() {
        // ZCU102: the guest's GICC is at the host GICC address, built from the GICV's pages.
        let aliased = Gicv2FramePages::of(MemoryRange::new(0xf906_0000, 0x2_0000)).expect("GICV");
        assert_eq!(
            aliased.guest_mappings(0xf902_0000),
            [(0xf902_0000, 0xf906_0000), (0xf902_1000, 0xf907_0000)]
        );
        // QEMU virt: one contiguous frame, mapped page by page all the same.
        let plain = Gicv2FramePages::of(MemoryRange::new(0x0804_0000, 0x2000)).expect("GICV");
        assert_eq!(
            plain.guest_mappings(0x0801_0000),
            [(0x0801_0000, 0x0804_0000), (0x0801_1000, 0x0804_1000)]
        );
    }

    #[test]
    fn too_small_or_wrapping_frames_have_no_pages() {
        assert_eq!(
            Gicv2FramePages::of(MemoryRange::new(0xe82b_6000, 0x1000)),
            None
        );
        assert_eq!(Gicv2FramePages::of(MemoryRange::new(0, 0)), None);
        assert_eq!(
            Gicv2FramePages::of(MemoryRange::new(u64::MAX - 0xfff, 0x2_0000)),
            None
        );
    }
}

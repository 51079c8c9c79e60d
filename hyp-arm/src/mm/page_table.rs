//! VMSAv8-64 translation tables with the 4 KiB granule, for the EL2 stage-1 map and guest stage-2 maps.
#![forbid(unsafe_code)]

use core::fmt;

/// Bytes in a translation granule and in one table.
pub const PAGE_SIZE: u64 = 4096;
/// Descriptors in one table.
pub const ENTRIES_PER_TABLE: usize = 512;
/// The most tables a stage-2 root may concatenate (Arm ARM D8.2.6: up to 16 at the initial lookup level).
pub const MAX_CONCATENATED_ROOTS: usize = 16;

const DESCRIPTOR_VALID: u64 = 1 << 0;
/// At levels 0-2 this bit marks a table descriptor; at level 3 it marks a page (Arm ARM D8.3.1).
const DESCRIPTOR_TABLE_OR_PAGE: u64 = 1 << 1;
const ACCESS_FLAG: u64 = 1 << 10;
const SHAREABILITY_INNER: u64 = 0b11 << 8;
const OUTPUT_ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Which translation regime a table belongs to: the attribute bits differ (Arm ARM D8.3.2, D8.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// The hypervisor's own stage-1 map (EL2, no EL0): AttrIndx into MAIR_EL2.
    El2Stage1,
    /// A guest's stage-2 map: MemAttr encoded in the descriptor, S2AP permissions.
    Stage2,
}

/// The kind of memory a mapping describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Normal, inner and outer write-back cacheable, inner shareable.
    Normal,
    /// Device-nGnRE, never executable.
    Device,
}

/// Access rights of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// MAIR_EL2 attribute index of Device-nGnRE memory in the EL2 stage-1 map.
pub const MAIR_INDEX_DEVICE: u64 = 0;
/// MAIR_EL2 attribute index of normal write-back memory in the EL2 stage-1 map.
pub const MAIR_INDEX_NORMAL: u64 = 1;
/// The MAIR_EL2 value matching the two indices above: Attr0 = 0x04 (Device-nGnRE), Attr1 = 0xff
/// (Normal, inner/outer write-back non-transient, read/write-allocate).
pub const MAIR_EL2_VALUE: u64 = 0x04 | (0xff << 8);

impl Regime {
    fn leaf_attributes(self, kind: MemoryKind, access: Access) -> u64 {
        match self {
            Regime::El2Stage1 => {
                // AP[1] is RES1 in the EL2 regime; AP[2] selects read-only. XN is bit 54.
                let permissions = match access {
                    Access::ReadWrite => 1 << 6,
                    Access::ReadOnly => (1 << 6) | (1 << 7),
                };
                let memory = match kind {
                    MemoryKind::Normal => (MAIR_INDEX_NORMAL << 2) | SHAREABILITY_INNER,
                    MemoryKind::Device => (MAIR_INDEX_DEVICE << 2) | (1 << 54),
                };
                ACCESS_FLAG | permissions | memory
            }
            Regime::Stage2 => {
                // S2AP [7:6]: 0b01 read-only, 0b11 read/write. MemAttr [5:2]: 0b1111 normal
                // write-back, 0b0001 Device-nGnRE. XN [54:53] = 0b10: not executable at EL1 or EL0.
                let permissions = match access {
                    Access::ReadWrite => 0b11 << 6,
                    Access::ReadOnly => 0b01 << 6,
                };
                let memory = match kind {
                    MemoryKind::Normal => (0b1111 << 2) | SHAREABILITY_INNER,
                    MemoryKind::Device => (0b0001 << 2) | (0b10 << 53),
                };
                ACCESS_FLAG | permissions | memory
            }
        }
    }
}

/// The shape of a translation: how many address bits and at which level the walk starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Input address bits (64 - TxSZ).
    pub input_bits: u32,
    /// The level of the root table (0, 1 or 2).
    pub start_level: u32,
    /// Contiguous tables that form the root (1 for stage-1; up to 16 for stage-2).
    pub root_tables: usize,
}

impl Geometry {
    /// The stage-1 geometry for `input_bits` of VA (no concatenation at stage 1).
    pub fn stage1(input_bits: u32) -> Result<Self, MapError> {
        let start_level = match input_bits {
            40..=48 => 0,
            31..=39 => 1,
            22..=30 => 2,
            _ => return Err(MapError::UnsupportedAddressSize(input_bits)),
        };
        Ok(Self {
            input_bits,
            start_level,
            root_tables: 1,
        })
    }

    /// The stage-2 geometry for an IPA of `input_bits`, using concatenated root tables where the
    /// architecture allows it so that the walk has as few levels as possible (Arm ARM D8.2.6).
    pub fn stage2(input_bits: u32) -> Result<Self, MapError> {
        let (start_level, root_tables) = match input_bits {
            44..=48 => (0, 1),
            40..=43 => (1, 1 << (input_bits - 39)),
            31..=39 => (1, 1),
            25..=30 => (2, 1),
            _ => return Err(MapError::UnsupportedAddressSize(input_bits)),
        };
        Ok(Self {
            input_bits,
            start_level,
            root_tables,
        })
    }

    /// TxSZ for TCR_EL2 / VTCR_EL2.
    pub fn txsz(&self) -> u64 {
        u64::from(64 - self.input_bits)
    }

    /// VTCR_EL2.SL0 for this starting level with the 4 KiB granule.
    pub fn vtcr_sl0(&self) -> u64 {
        match self.start_level {
            0 => 0b10,
            1 => 0b01,
            _ => 0b00,
        }
    }

    /// The highest input address + 1.
    pub fn input_limit(&self) -> u64 {
        1u64 << self.input_bits
    }
}

/// The PARange encoding of ID_AA64MMFR0_EL1 (and TCR_EL2.PS / VTCR_EL2.PS) to a number of bits.
pub fn physical_address_bits(parange: u64) -> u32 {
    match parange & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The address size has no 4 KiB-granule geometry.
    UnsupportedAddressSize(u32),
    /// Start, size or output address is not page aligned.
    Unaligned { input: u64, output: u64, size: u64 },
    /// The range ends beyond the input address space.
    OutOfRange { input: u64, size: u64, limit: u64 },
    /// The range overlaps an existing mapping.
    AlreadyMapped { input: u64 },
    /// The table pool is exhausted.
    OutOfTables,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::UnsupportedAddressSize(bits) => {
                write!(
                    f,
                    "{bits}-bit address space is not supported with the 4 KiB granule"
                )
            }
            MapError::Unaligned {
                input,
                output,
                size,
            } => write!(
                f,
                "mapping {input:#x} -> {output:#x} ({size:#x} bytes) is not 4 KiB aligned"
            ),
            MapError::OutOfRange { input, size, limit } => write!(
                f,
                "mapping {input:#x}+{size:#x} ends beyond the address space limit {limit:#x}"
            ),
            MapError::AlreadyMapped { input } => {
                write!(f, "{input:#x} is already mapped")
            }
            MapError::OutOfTables => write!(f, "out of translation table memory"),
        }
    }
}

/// Where translation tables live. Tables are identified by their physical address, which is
/// also the address the walker uses.
pub trait TableAllocator {
    /// Returns the physical address of `count` zeroed, physically contiguous tables aligned to
    /// `count` * 4 KiB (concatenated stage-2 roots need that alignment).
    fn allocate_tables(&mut self, count: usize) -> Result<u64, MapError>;
    /// The table at physical address `address` (as returned by `allocate_tables`, plus a
    /// multiple of 4 KiB within the same allocation).
    fn table_mut(&mut self, address: u64) -> &mut [u64; ENTRIES_PER_TABLE];
}

/// A translation table tree: a root and the geometry of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslationTable {
    regime: Regime,
    geometry: Geometry,
    root: u64,
}

fn level_shift(level: u32) -> u32 {
    12 + 9 * (3 - level)
}

impl TranslationTable {
    /// Allocates an empty root.
    pub fn new(
        regime: Regime,
        geometry: Geometry,
        allocator: &mut impl TableAllocator,
    ) -> Result<Self, MapError> {
        let root = allocator.allocate_tables(geometry.root_tables)?;
        Ok(Self {
            regime,
            geometry,
            root,
        })
    }

    /// The physical address of the root (for TTBR0_EL2 / VTTBR_EL2).
    pub fn root_address(&self) -> u64 {
        self.root
    }

    /// The walk geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Maps `size` bytes at `input` to `output`, with the largest blocks alignment allows
    /// (1 GiB at level 1, 2 MiB at level 2, else 4 KiB pages). Overlapping an existing mapping
    /// is an error: nothing is ever silently remapped.
    pub fn map(
        &mut self,
        input: u64,
        output: u64,
        size: u64,
        kind: MemoryKind,
        access: Access,
        allocator: &mut impl TableAllocator,
    ) -> Result<(), MapError> {
        if !input.is_multiple_of(PAGE_SIZE)
            || !output.is_multiple_of(PAGE_SIZE)
            || !size.is_multiple_of(PAGE_SIZE)
        {
            return Err(MapError::Unaligned {
                input,
                output,
                size,
            });
        }
        let limit = self.geometry.input_limit();
        if input.checked_add(size).is_none_or(|end| end > limit) {
            return Err(MapError::OutOfRange { input, size, limit });
        }
        let attributes = self.regime.leaf_attributes(kind, access);
        let mut offset = 0;
        while offset < size {
            let (address, physical) = (input + offset, output + offset);
            let remaining = size - offset;
            let level = self.leaf_level(address, physical, remaining);
            self.set_leaf(address, physical, level, attributes, allocator)?;
            offset += 1 << level_shift(level);
        }
        Ok(())
    }

    /// Maps `size` bytes at `address` to the same physical address: the EL2 map, and guests whose
    /// RAM and devices sit at their host addresses.
    pub fn map_identity(
        &mut self,
        address: u64,
        size: u64,
        kind: MemoryKind,
        access: Access,
        allocator: &mut impl TableAllocator,
    ) -> Result<(), MapError> {
        self.map(address, address, size, kind, access, allocator)
    }

    /// The coarsest level whose block fits at this address: level 1 and 2 blocks need input and
    /// output aligned to the block size and the rest of the range to cover it.
    fn leaf_level(&self, input: u64, output: u64, remaining: u64) -> u32 {
        for level in self.geometry.start_level.max(1)..3 {
            let block = 1u64 << level_shift(level);
            if input.is_multiple_of(block) && output.is_multiple_of(block) && remaining >= block {
                return level;
            }
        }
        3
    }

    fn root_index(&self, input: u64) -> (u64, usize) {
        // A concatenated root behaves like one table with root_tables * 512 entries.
        let index = (input >> level_shift(self.geometry.start_level)) as usize;
        let table = self.root + (index / ENTRIES_PER_TABLE) as u64 * PAGE_SIZE;
        (table, index % ENTRIES_PER_TABLE)
    }

    fn set_leaf(
        &mut self,
        input: u64,
        output: u64,
        leaf_level: u32,
        attributes: u64,
        allocator: &mut impl TableAllocator,
    ) -> Result<(), MapError> {
        let (mut table, mut index) = self.root_index(input);
        let mut level = self.geometry.start_level;
        while level < leaf_level {
            let entry = allocator.table_mut(table)[index];
            let next = if entry & DESCRIPTOR_VALID == 0 {
                let next = allocator.allocate_tables(1)?;
                allocator.table_mut(table)[index] =
                    next | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID;
                next
            } else if entry & DESCRIPTOR_TABLE_OR_PAGE == 0 {
                // A block already covers this address.
                return Err(MapError::AlreadyMapped { input });
            } else {
                entry & OUTPUT_ADDRESS_MASK
            };
            level += 1;
            table = next;
            index = ((input >> level_shift(level)) & 0x1ff) as usize;
        }
        let slot = &mut allocator.table_mut(table)[index];
        if *slot & DESCRIPTOR_VALID != 0 {
            return Err(MapError::AlreadyMapped { input });
        }
        let kind_bit = if leaf_level == 3 {
            DESCRIPTOR_TABLE_OR_PAGE
        } else {
            0
        };
        *slot = (output & OUTPUT_ADDRESS_MASK) | attributes | kind_bit | DESCRIPTOR_VALID;
        Ok(())
    }

    /// Walks the tables like the hardware would: the output address and the leaf descriptor
    /// for `input`, or `None` when unmapped.
    pub fn translate(&self, input: u64, allocator: &mut impl TableAllocator) -> Option<(u64, u64)> {
        if input >= self.geometry.input_limit() {
            return None;
        }
        let (mut table, mut index) = self.root_index(input);
        let mut level = self.geometry.start_level;
        loop {
            let entry = allocator.table_mut(table)[index];
            if entry & DESCRIPTOR_VALID == 0 {
                return None;
            }
            let is_table = entry & DESCRIPTOR_TABLE_OR_PAGE != 0 && level < 3;
            if !is_table {
                let block_mask = (1u64 << level_shift(level)) - 1;
                return Some((
                    (entry & OUTPUT_ADDRESS_MASK & !block_mask) | (input & block_mask),
                    entry,
                ));
            }
            level += 1;
            table = entry & OUTPUT_ADDRESS_MASK;
            index = ((input >> level_shift(level)) & 0x1ff) as usize;
        }
    }
}

/// A pool of tables in a caller-provided, page-aligned array: what the hypervisor uses at run
/// time (with the array in .bss, where physical and EL2 virtual addresses are equal) and what the
/// host tests use.
pub struct TablePool<'a> {
    tables: &'a mut [[u64; ENTRIES_PER_TABLE]],
    base_address: u64,
    next_free: usize,
}

impl<'a> TablePool<'a> {
    /// A pool over `tables`, whose first table the walker sees at physical `base_address`.
    pub fn new(tables: &'a mut [[u64; ENTRIES_PER_TABLE]], base_address: u64) -> Self {
        Self {
            tables,
            base_address,
            next_free: 0,
        }
    }

    /// Tables handed out so far.
    pub fn used(&self) -> usize {
        self.next_free
    }
}

impl TableAllocator for TablePool<'_> {
    fn allocate_tables(&mut self, count: usize) -> Result<u64, MapError> {
        let count = count.max(1);
        let base_page = (self.base_address / PAGE_SIZE) as usize;
        // Concatenated roots must be aligned to their total size.
        let mut start = self.next_free;
        while !(base_page + start).is_multiple_of(count) {
            start += 1;
        }
        let end = start.checked_add(count).ok_or(MapError::OutOfTables)?;
        if end > self.tables.len() {
            return Err(MapError::OutOfTables);
        }
        for table in &mut self.tables[start..end] {
            table.fill(0);
        }
        self.next_free = end;
        Ok(self.base_address + start as u64 * PAGE_SIZE)
    }

    fn table_mut(&mut self, address: u64) -> &mut [u64; ENTRIES_PER_TABLE] {
        let index = ((address - self.base_address) / PAGE_SIZE) as usize;
        &mut self.tables[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn pool(tables: &mut Vec<[u64; 512]>) -> TablePool<'_> {
        TablePool::new(tables.as_mut_slice(), 0x4000_0000)
    }

    #[test]
    fn stage2_geometry_follows_the_ipa_size() {
        assert_eq!(
            Geometry::stage2(40).unwrap(),
            Geometry {
                input_bits: 40,
                start_level: 1,
                root_tables: 2
            }
        );
        assert_eq!(Geometry::stage2(44).unwrap().start_level, 0);
        assert_eq!(Geometry::stage2(39).unwrap().root_tables, 1);
        assert_eq!(Geometry::stage2(42).unwrap().root_tables, 8);
        assert_eq!(Geometry::stage2(40).unwrap().vtcr_sl0(), 0b01);
        assert_eq!(Geometry::stage2(40).unwrap().txsz(), 24);
        assert!(Geometry::stage2(60).is_err());
        assert_eq!(physical_address_bits(2), 40);
        assert_eq!(physical_address_bits(4), 44);
    }

    #[test]
    fn aligned_ram_uses_blocks_and_translates() {
        let mut tables = vec![[0u64; 512]; 16];
        let mut pool = pool(&mut tables);
        let geometry = Geometry::stage2(40).unwrap();
        let mut table = TranslationTable::new(Regime::Stage2, geometry, &mut pool).unwrap();
        assert_eq!(
            table.root_address() % (2 * PAGE_SIZE),
            0,
            "concatenated root aligned"
        );
        // 1 GiB aligned: a single level-1 block, no further tables.
        table
            .map(
                0x8000_0000,
                0x8000_0000,
                GIB,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool,
            )
            .unwrap();
        assert_eq!(pool.used(), 2);
        let (output, descriptor) = table.translate(0x8123_4567, &mut pool).unwrap();
        assert_eq!(output, 0x8123_4567);
        assert_eq!(descriptor & 0b11, 0b01, "block descriptor");
        assert_eq!((descriptor >> 2) & 0xf, 0b1111, "normal write-back");
        assert_eq!((descriptor >> 6) & 0b11, 0b11, "read/write");
        assert!(table.translate(0x7fff_f000, &mut pool).is_none());
        assert!(table.translate(0xc000_0000, &mut pool).is_none());
    }

    #[test]
    fn concatenated_root_reaches_the_top_of_a_40_bit_ipa() {
        let mut tables = vec![[0u64; 512]; 16];
        let mut pool = pool(&mut tables);
        let mut table =
            TranslationTable::new(Regime::Stage2, Geometry::stage2(40).unwrap(), &mut pool)
                .unwrap();
        table
            .map(
                0xff_c000_0000,
                0x1000_0000,
                GIB,
                MemoryKind::Normal,
                Access::ReadOnly,
                &mut pool,
            )
            .unwrap();
        assert_eq!(
            table.translate(0xff_c000_1000, &mut pool).unwrap().0,
            0x1000_1000
        );
    }

    #[test]
    fn unaligned_edges_fall_back_to_smaller_mappings() {
        let mut tables = vec![[0u64; 512]; 16];
        let mut pool = pool(&mut tables);
        let mut table =
            TranslationTable::new(Regime::Stage2, Geometry::stage2(40).unwrap(), &mut pool)
                .unwrap();
        // 4 KiB before a 2 MiB boundary, then 2 MiB, then 4 KiB: page, block, page.
        let start = 0x4020_0000 - PAGE_SIZE;
        table
            .map(
                start,
                start,
                2 * MIB + 2 * PAGE_SIZE,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool,
            )
            .unwrap();
        let (_, first) = table.translate(start, &mut pool).unwrap();
        assert_eq!(first & 0b11, 0b11, "page descriptor at level 3");
        let (_, middle) = table.translate(0x4020_0000, &mut pool).unwrap();
        assert_eq!(middle & 0b11, 0b01, "2 MiB block");
        assert!(table.translate(0x4040_0000, &mut pool).is_some());
        assert!(table.translate(0x4040_1000, &mut pool).is_none());
    }

    #[test]
    fn device_mappings_are_device_memory_and_never_executable() {
        let mut tables = vec![[0u64; 512]; 16];
        let mut pool = pool(&mut tables);
        let mut table =
            TranslationTable::new(Regime::Stage2, Geometry::stage2(40).unwrap(), &mut pool)
                .unwrap();
        table
            .map(
                0x0900_0000,
                0x0900_0000,
                PAGE_SIZE,
                MemoryKind::Device,
                Access::ReadWrite,
                &mut pool,
            )
            .unwrap();
        let (_, descriptor) = table.translate(0x0900_0000, &mut pool).unwrap();
        assert_eq!((descriptor >> 2) & 0xf, 0b0001);
        assert_eq!((descriptor >> 53) & 0b11, 0b10);

        let mut el2 =
            TranslationTable::new(Regime::El2Stage1, Geometry::stage1(40).unwrap(), &mut pool)
                .unwrap();
        el2.map(
            0x0900_0000,
            0x0900_0000,
            PAGE_SIZE,
            MemoryKind::Device,
            Access::ReadWrite,
            &mut pool,
        )
        .unwrap();
        let (_, descriptor) = el2.translate(0x0900_0000, &mut pool).unwrap();
        assert_eq!((descriptor >> 2) & 0b111, MAIR_INDEX_DEVICE);
        assert_ne!(descriptor & (1 << 54), 0, "XN");
    }

    #[test]
    fn overlap_misalignment_range_and_exhaustion_are_errors() {
        let mut tables = vec![[0u64; 512]; 4];
        let mut pool = pool(&mut tables);
        let mut table =
            TranslationTable::new(Regime::Stage2, Geometry::stage2(40).unwrap(), &mut pool)
                .unwrap();
        table
            .map(
                0x4000_0000,
                0x4000_0000,
                2 * MIB,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool,
            )
            .unwrap();
        assert_eq!(
            table.map(
                0x4010_0000,
                0x4010_0000,
                PAGE_SIZE,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool
            ),
            Err(MapError::AlreadyMapped { input: 0x4010_0000 })
        );
        assert!(matches!(
            table.map(
                0x123,
                0,
                PAGE_SIZE,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool
            ),
            Err(MapError::Unaligned { .. })
        ));
        assert!(matches!(
            table.map(
                1 << 40,
                0,
                PAGE_SIZE,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool
            ),
            Err(MapError::OutOfRange { .. })
        ));
        // Two tables left: pages in two distinct 1 GiB regions need two level-2 and two level-3.
        let result = (0..4u64).try_for_each(|i| {
            let address = 0x1_0000_0000 + i * GIB;
            table.map(
                address,
                address,
                PAGE_SIZE,
                MemoryKind::Normal,
                Access::ReadWrite,
                &mut pool,
            )
        });
        assert_eq!(result, Err(MapError::OutOfTables));
        assert_eq!(
            MapError::OutOfTables.to_string(),
            "out of translation table memory"
        );
    }
}

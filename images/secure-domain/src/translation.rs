//! The secure domain's stage-1 identity map: a level-1 root (39-bit virtual addresses, 4 KiB
//! granule) and a few level-2 tables of 2 MiB blocks (Arm ARM D8.3, VMSAv8-64 descriptors).
//!
//! 2 MiB blocks keep the tables few and static; the domain's RAM is a 2 MiB multiple and its
//! devices sit in distinct 2 MiB blocks on the machines it runs on. A block that would need two
//! different memory types is refused rather than mapped one way.
//!
//! Table addresses in descriptors are the tables' own addresses: the tables are built with the
//! MMU off and describe an identity map, so those are physical addresses both before and after.

use core::fmt;

use crate::platform::AddressRange;

/// Descriptors per table (4 KiB granule).
pub const ENTRIES: usize = 512;
/// Bytes one level-2 block maps.
pub const BLOCK_SIZE: u64 = 1 << 21;
/// Bytes one level-1 entry covers.
pub const LEVEL1_SIZE: u64 = 1 << 30;
/// Virtual address bits: TCR_EL1.T0SZ = 64 - 39 = 25 starts the walk at level 1.
pub const VIRTUAL_ADDRESS_BITS: u32 = 39;
/// MAIR_EL1 attribute index of Device-nGnRE memory.
pub const DEVICE_ATTRIBUTE_INDEX: u64 = 0;
/// MAIR_EL1 attribute index of Normal, inner and outer write-back memory.
pub const NORMAL_ATTRIBUTE_INDEX: u64 = 1;
/// MAIR_EL1 attribute bytes for the two indexes (Arm ARM D17.2.97): 0x04 Device-nGnRE, 0xff
/// Normal write-back non-transient, read- and write-allocate, inner and outer.
pub const MAIR_VALUE: u64 =
    0x04 << (8 * DEVICE_ATTRIBUTE_INDEX) | 0xff << (8 * NORMAL_ATTRIBUTE_INDEX);

// Descriptor bits (Arm ARM D8.3.1 and D8.3.2).
const VALID: u64 = 1 << 0;
/// Bit 1 set: a table descriptor at level 1, clear: a block.
const TABLE: u64 = 1 << 1;
const ATTRIBUTE_INDEX_SHIFT: u32 = 2;
/// SH = 0b11: inner shareable (ignored for Device memory, which is always outer shareable).
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// Access flag: set, so the first access does not fault.
const ACCESSED: u64 = 1 << 10;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
/// Output address bits [47:12] of a descriptor.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// How a range is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM: Normal write-back, inner shareable, executable at EL1 only.
    Normal,
    /// MMIO: Device-nGnRE, never executable.
    Device,
    /// Memory shared with hyp-arm (a channel's ring region): Normal write-back, inner shareable
    /// (as hyp-arm maps it at EL2, so both see one coherent view, Arm ARM B2.12), never
    /// executable: it holds data another agent writes.
    Shared,
}

impl MemoryKind {
    /// The level-2 block descriptor mapping the 2 MiB block at `address` (EL1 read-write, AP = 0).
    pub fn block_descriptor(self, address: u64) -> u64 {
        let attributes = match self {
            MemoryKind::Normal => {
                NORMAL_ATTRIBUTE_INDEX << ATTRIBUTE_INDEX_SHIFT
                    | INNER_SHAREABLE
                    | UNPRIVILEGED_EXECUTE_NEVER
            }
            MemoryKind::Device => {
                DEVICE_ATTRIBUTE_INDEX << ATTRIBUTE_INDEX_SHIFT
                    | PRIVILEGED_EXECUTE_NEVER
                    | UNPRIVILEGED_EXECUTE_NEVER
            }
            MemoryKind::Shared => {
                NORMAL_ATTRIBUTE_INDEX << ATTRIBUTE_INDEX_SHIFT
                    | INNER_SHAREABLE
                    | PRIVILEGED_EXECUTE_NEVER
                    | UNPRIVILEGED_EXECUTE_NEVER
            }
        };
        (address & ADDRESS_MASK) | attributes | ACCESSED | VALID
    }
}

/// Why a range cannot be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The range is empty, wraps, or ends above the 39-bit address space.
    OutsideAddressSpace { range: AddressRange },
    /// The range needs more level-2 tables than the image has.
    OutOfTables { range: AddressRange, tables: usize },
    /// A 2 MiB block of the range is already mapped as another kind of memory.
    Conflict { block: u64, kind: MemoryKind },
}

impl fmt::Display for MapError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideAddressSpace { range } => write!(
                formatter,
                "cannot map {:#x} (+{:#x}): empty, or beyond the {VIRTUAL_ADDRESS_BITS}-bit address space",
                range.base, range.size
            ),
            Self::OutOfTables { range, tables } => write!(
                formatter,
                "cannot map {:#x} (+{:#x}): all {tables} level-2 tables are in use",
                range.base, range.size
            ),
            Self::Conflict { block, kind } => write!(
                formatter,
                "the 2 MiB block at {block:#x} would be both {kind:?} memory and another kind"
            ),
        }
    }
}

/// One 4 KiB-aligned table of descriptors.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
pub struct Table {
    pub entries: [u64; ENTRIES],
}

impl Table {
    pub const EMPTY: Table = Table {
        entries: [0; ENTRIES],
    };

    /// The table's address, which its parent descriptor holds.
    pub fn address(&self) -> u64 {
        core::ptr::from_ref(self) as usize as u64
    }
}

/// A root table and `LEVEL2` level-2 tables, handed out as ranges need them.
pub struct TranslationTables<const LEVEL2: usize> {
    root: Table,
    level2: [Table; LEVEL2],
    used: usize,
}

impl<const LEVEL2: usize> Default for TranslationTables<LEVEL2> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LEVEL2: usize> TranslationTables<LEVEL2> {
    /// Empty tables: nothing mapped.
    pub const fn new() -> Self {
        Self {
            root: Table::EMPTY,
            level2: [Table::EMPTY; LEVEL2],
            used: 0,
        }
    }

    /// What TTBR0_EL1 points to.
    pub fn root_address(&self) -> u64 {
        self.root.address()
    }

    /// The root table, for inspection.
    pub fn root(&self) -> &Table {
        &self.root
    }

    /// The level-2 tables in use, in the order they were taken.
    pub fn level2_tables(&self) -> &[Table] {
        &self.level2[..self.used]
    }

    /// Identity-maps every 2 MiB block that `range` touches as `kind`. Blocks already mapped the
    /// same way are left alone; on an error, blocks mapped before it stay mapped.
    pub fn map(&mut self, range: AddressRange, kind: MemoryKind) -> Result<(), MapError> {
        let outside = MapError::OutsideAddressSpace { range };
        let end = range.end().ok_or(outside)?;
        if range.size == 0 || end > 1 << VIRTUAL_ADDRESS_BITS {
            return Err(outside);
        }
        let mut block = range.base & !(BLOCK_SIZE - 1);
        while block < end {
            let table = self.level2_for(block, range)?;
            let slot = &mut self.level2[table].entries[level2_index(block)];
            let wanted = kind.block_descriptor(block);
            if *slot == 0 {
                *slot = wanted;
            } else if *slot != wanted {
                return Err(MapError::Conflict { block, kind });
            }
            block += BLOCK_SIZE;
        }
        Ok(())
    }

    /// The index of the level-2 table that covers `address`, taken from the pool if needed.
    fn level2_for(&mut self, address: u64, range: AddressRange) -> Result<usize, MapError> {
        let root_index = (address / LEVEL1_SIZE) as usize;
        let descriptor = self.root.entries[root_index];
        if descriptor & VALID != 0 {
            let wanted = descriptor & ADDRESS_MASK;
            // Only this type writes the root, and only table descriptors to its own tables.
            if let Some(index) = self.level2[..self.used]
                .iter()
                .position(|table| table.address() == wanted)
            {
                return Ok(index);
            }
        }
        if self.used == LEVEL2 {
            return Err(MapError::OutOfTables {
                range,
                tables: LEVEL2,
            });
        }
        let index = self.used;
        self.used += 1;
        self.root.entries[root_index] = self.level2[index].address() | TABLE | VALID;
        Ok(index)
    }
}

fn level2_index(address: u64) -> usize {
    ((address / BLOCK_SIZE) % ENTRIES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn ram_and_devices_get_their_blocks() {
        let mut tables = TranslationTables::<2>::new();
        tables
            .map(AddressRange::new(0x4000_0000, 16 * MIB), MemoryKind::Normal)
            .expect("RAM");
        // GICD and GICC share a block: the second mapping finds it already there.
        tables
            .map(AddressRange::new(0x800_0000, 0x1_0000), MemoryKind::Device)
            .expect("GICD");
        tables
            .map(AddressRange::new(0x801_0000, 0x1_0000), MemoryKind::Device)
            .expect("GICC");
        tables
            .map(AddressRange::new(0x901_0000, 0x1000), MemoryKind::Device)
            .expect("RTC");
        let [ram, devices] = tables.level2_tables() else {
            panic!("two level-2 tables expected");
        };
        assert_eq!(tables.root().entries[1], ram.address() | 0b11);
        assert_eq!(tables.root().entries[0], devices.address() | 0b11);
        assert!(tables.root().entries[2..].iter().all(|&entry| entry == 0));
        // RAM: 8 blocks from 0x4000_0000, AttrIndx 1, inner shareable, AF, UXN.
        assert_eq!(
            ram.entries[0],
            0x4000_0000 | 1 << 54 | 1 << 10 | 0b11 << 8 | 1 << 2 | 1
        );
        assert_eq!(
            ram.entries[7],
            0x40e0_0000 | 1 << 54 | 1 << 10 | 0b11 << 8 | 1 << 2 | 1
        );
        assert_eq!(ram.entries[8], 0);
        // Devices: AttrIndx 0, AF, PXN and UXN.
        let device = |address: u64| address | 1 << 54 | 1 << 53 | 1 << 10 | 1;
        assert_eq!(
            devices.entries[0x800_0000 / (2 * MIB as usize)],
            device(0x800_0000)
        );
        assert_eq!(
            devices.entries[0x900_0000 / (2 * MIB as usize)],
            device(0x900_0000)
        );
        assert_eq!(
            devices.entries.iter().filter(|&&entry| entry != 0).count(),
            2
        );
        assert_eq!(tables.root_address() % 4096, 0);
    }

    #[test]
    fn shared_memory_is_normal_inner_shareable_and_never_executable() {
        let mut tables = TranslationTables::<1>::new();
        tables
            .map(AddressRange::new(0x4000_0000, 16 * MIB), MemoryKind::Normal)
            .expect("RAM");
        // A channel's 64 KiB ring region right after RAM gets a 2 MiB block of its own.
        tables
            .map(AddressRange::new(0x4100_0000, 0x1_0000), MemoryKind::Shared)
            .expect("ring region");
        let table = &tables.level2_tables()[0];
        assert_eq!(
            table.entries[8],
            0x4100_0000 | 1 << 54 | 1 << 53 | 1 << 10 | 0b11 << 8 | 1 << 2 | 1
        );
        assert_eq!(table.entries[9], 0);
        // Inside RAM's last block it would make that block executable-never: refused.
        assert_eq!(
            tables.map(AddressRange::new(0x40f0_0000, 0x1_0000), MemoryKind::Shared),
            Err(MapError::Conflict {
                block: 0x40e0_0000,
                kind: MemoryKind::Shared
            })
        );
    }

    #[test]
    fn unaligned_ranges_cover_every_block_they_touch() {
        let mut tables = TranslationTables::<1>::new();
        tables
            .map(AddressRange::new(0x1f_f000, 0x2000), MemoryKind::Device)
            .expect("two blocks");
        let table = &tables.level2_tables()[0];
        assert_ne!(table.entries[0], 0);
        assert_ne!(table.entries[1], 0);
        assert_eq!(table.entries[2], 0);
    }

    #[test]
    fn refusals() {
        let mut tables = TranslationTables::<1>::new();
        tables
            .map(AddressRange::new(0x4000_0000, 2 * MIB), MemoryKind::Normal)
            .expect("RAM");
        let device_in_ram = tables.map(AddressRange::new(0x4010_0000, 0x1000), MemoryKind::Device);
        assert_eq!(
            device_in_ram,
            Err(MapError::Conflict {
                block: 0x4000_0000,
                kind: MemoryKind::Device
            })
        );
        let other_gigabyte = AddressRange::new(0x800_0000, 0x1000);
        assert_eq!(
            tables.map(other_gigabyte, MemoryKind::Device),
            Err(MapError::OutOfTables {
                range: other_gigabyte,
                tables: 1
            })
        );
        for range in [
            AddressRange::new(0x80_0000_0000, 0x1000),
            AddressRange::new(0x7f_ffff_f000, 0x2000),
            AddressRange::new(0x1000, 0),
            AddressRange::new(u64::MAX, 2),
        ] {
            assert_eq!(
                tables.map(range, MemoryKind::Normal),
                Err(MapError::OutsideAddressSpace { range })
            );
        }
        assert_eq!(
            MapError::Conflict {
                block: 0x4000_0000,
                kind: MemoryKind::Device
            }
            .to_string(),
            "the 2 MiB block at 0x40000000 would be both Device memory and another kind"
        );
    }
}

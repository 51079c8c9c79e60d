//! Carving a guest's RAM out of host memory while keeping clear of everything already in use.
#![forbid(unsafe_code)]

use core::fmt;

use crate::platform::MemoryRange;

/// Why no guest RAM could be carved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarveError {
    pub wanted: u64,
    pub alignment: u64,
}

impl fmt::Display for CarveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no free host RAM of {} MiB aligned to {} MiB is left once the hypervisor, the device \
             tree, boot modules and reserved memory are excluded",
            self.wanted >> 20,
            self.alignment >> 20
        )
    }
}

/// Finds the highest `size` bytes aligned to `alignment` inside one of `memory` that overlap none
/// of `in_use`. Highest first keeps low memory (where loaders put images and modules) free.
pub fn carve_highest(
    memory: &[MemoryRange],
    in_use: &[MemoryRange],
    size: u64,
    alignment: u64,
) -> Result<MemoryRange, CarveError> {
    let error = CarveError {
        wanted: size,
        alignment,
    };
    let mut best: Option<MemoryRange> = None;
    for region in memory {
        let mut candidate_end = region.end();
        while let Some(start) = candidate_end.checked_sub(size) {
            let start = start & !(alignment - 1);
            if start < region.base {
                break;
            }
            let candidate = MemoryRange::new(start, size);
            match in_use
                .iter()
                .filter(|used| used.overlaps(&candidate))
                .map(|used| used.base)
                .min()
            {
                None => {
                    if best.is_none_or(|b| candidate.base > b.base) {
                        best = Some(candidate);
                    }
                    break;
                }
                // Slide below the lowest conflicting range and try again.
                Some(conflict_base) => candidate_end = conflict_base,
            }
        }
    }
    best.ok_or(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn takes_the_top_of_ram_when_free() {
        let memory = [MemoryRange::new(0x4000_0000, 2 * GIB)];
        let in_use = [
            MemoryRange::new(0x4020_0000, 2 * MIB),
            MemoryRange::new(0x4800_0000, 40 * MIB),
        ];
        assert_eq!(
            carve_highest(&memory, &in_use, GIB, 2 * MIB),
            Ok(MemoryRange::new(0x8000_0000, GIB))
        );
    }

    #[test]
    fn slides_below_something_in_use() {
        let memory = [MemoryRange::new(0x4000_0000, GIB)];
        let in_use = [MemoryRange::new(0x7ff0_0000, MIB)];
        let carved = carve_highest(&memory, &in_use, 256 * MIB, 2 * MIB).unwrap();
        assert_eq!(carved.end(), 0x7fe0_0000);
        assert!(!carved.overlaps(&in_use[0]));
    }

    #[test]
    fn too_big_is_a_clear_error() {
        let memory = [MemoryRange::new(0x4000_0000, GIB)];
        let error = carve_highest(&memory, &[], 2 * GIB, 2 * MIB).unwrap_err();
        assert!(error.to_string().contains("2048 MiB"));
    }
}

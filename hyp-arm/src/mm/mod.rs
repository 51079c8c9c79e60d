//! Memory management: translation tables for EL2 stage-1 and guest stage-2, and carving guest RAM
//! out of host memory (pure, host-testable).

pub mod carve;
pub mod page_table;

//! Memory management: translation tables for EL2 stage-1 and guest stage-2 (pure layout).

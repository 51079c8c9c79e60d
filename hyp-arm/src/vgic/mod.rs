//! The virtual GIC: distributor/redistributor emulation and list-register management (pure state machine).

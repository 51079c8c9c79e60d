//! Domains: the guest device tree builder and the guest boot layout (pure, host-testable).

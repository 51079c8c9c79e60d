//! Host device tree parsed into a plain `Platform` value (pure, host-testable).

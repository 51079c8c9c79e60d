//! Trap decoding and handling: exception classes, hypercalls (SMCCC, PSCI), data aborts.

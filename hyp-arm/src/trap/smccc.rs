//! SMCCC calls a guest makes with HVC (or a trapped SMC): PSCI 1.1 and the SMCCC architecture
//! calls, decoded from x0-x3 into a `Call` (Arm DEN0028 SMCCC, DEN0022 PSCI).
#![forbid(unsafe_code)]

/// PSCI and SMCCC function identifiers (DEN0022D table 5; SMC64 variants where both exist).
pub mod function {
    pub const PSCI_VERSION: u32 = 0x8400_0000;
    pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
    pub const CPU_SUSPEND_64: u32 = 0xc400_0001;
    pub const CPU_OFF: u32 = 0x8400_0002;
    pub const CPU_ON_32: u32 = 0x8400_0003;
    pub const CPU_ON_64: u32 = 0xc400_0003;
    pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
    pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    pub const PSCI_FEATURES: u32 = 0x8400_000a;
    pub const SMCCC_VERSION: u32 = 0x8000_0000;
    pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
}

/// hyp-arm's own calls, in SMCCC's vendor-specific hypervisor service range (SMC64 fast calls,
/// owning entity 6). docs/HYPERCALLS.md is their reference.
pub mod hypercall {
    /// x0 = version, major in [31:16], minor in [15:0].
    pub const HYP_VERSION: u32 = 0xc600_0000;
    /// x0 = SUCCESS, x1 = the caller's domain index, x2 = its vCPU count, x3 = its role
    /// (0 secure, 1 rich, 2 driver).
    pub const DOMAIN_INFO: u32 = 0xc600_0001;
    /// x1 = byte count (1..=40), x2..x6 = the bytes, little-endian, x2 first. Appends them to the
    /// caller's console line buffer (lines are tagged with the domain's name). x0 = SUCCESS or
    /// INVALID_PARAMETERS.
    pub const CONSOLE_WRITE: u32 = 0xc600_0002;
    /// The caller finished its start-up: domains that wait for it (`starts_after`) start now.
    /// x0 = SUCCESS.
    pub const DOMAIN_READY: u32 = 0xc600_0003;
    /// Gives up the physical CPU to another runnable vCPU sharing it, if any. x0 = SUCCESS.
    pub const YIELD: u32 = 0xc600_0004;
    /// x1 = the caller's channel number (the order of its `hyp-arm,channel-ring` nodes): it put
    /// messages into that channel's ring or took some out. x0 = SUCCESS or INVALID_PARAMETERS.
    pub const CHANNEL_NOTIFY: u32 = 0xc600_0005;
    /// x1 = UNIX time in nanoseconds, read from a clock the caller trusts. Only a secure-role
    /// domain may call it; hyp-arm keeps the time as an offset from its counter for the clocks
    /// it emulates. x0 = SUCCESS, DENIED for another role, INVALID_PARAMETERS for a time earlier
    /// than the counter's uptime.
    pub const TRUSTED_TIME_SET: u32 = 0xc600_0006;
    /// The version `HYP_VERSION` returns: 1.0.
    pub const VERSION: u64 = 0x0001_0000;
    /// The most bytes one `CONSOLE_WRITE` carries (x2..x6).
    pub const CONSOLE_WRITE_MAX: usize = 40;
}

/// PSCI return codes (DEN0022D 5.2.2), as the 64-bit value placed in x0.
pub mod status {
    pub const SUCCESS: u64 = 0;
    pub const NOT_SUPPORTED: u64 = -1i64 as u64;
    pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
    pub const DENIED: u64 = -3i64 as u64;
    pub const ALREADY_ON: u64 = -4i64 as u64;
    pub const ON_PENDING: u64 = -5i64 as u64;
    pub const INTERNAL_FAILURE: u64 = -6i64 as u64;
}

/// PSCI 1.1, as returned by PSCI_VERSION (major in [31:16], minor in [15:0]).
pub const PSCI_VERSION_1_1: u64 = 0x0001_0001;
/// SMCCC 1.1, as returned by SMCCC_VERSION.
pub const SMCCC_VERSION_1_1: u64 = 0x0001_0001;

/// AFFINITY_INFO answers.
pub mod affinity_state {
    pub const ON: u64 = 0;
    pub const OFF: u64 = 1;
    pub const ON_PENDING: u64 = 2;
}

/// MIGRATE_INFO_TYPE: "Trusted OS is not present or does not require migration".
pub const MIGRATE_NOT_REQUIRED: u64 = 2;

/// A decoded SMCCC call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    PsciVersion,
    CpuSuspend {
        power_state: u64,
        entry_point: u64,
        context: u64,
    },
    CpuOff,
    CpuOn {
        target_mpidr: u64,
        entry_point: u64,
        context: u64,
    },
    AffinityInfo {
        target_mpidr: u64,
        lowest_level: u64,
    },
    MigrateInfoType,
    SystemOff,
    SystemReset,
    PsciFeatures {
        function_id: u32,
    },
    SmcccVersion,
    SmcccArchFeatures {
        function_id: u32,
    },
    HypVersion,
    DomainInfo,
    /// `CONSOLE_WRITE`, its bytes already unpacked (an invalid length decodes as `Unknown`-like
    /// `ConsoleWriteInvalid`).
    ConsoleWrite {
        bytes: [u8; hypercall::CONSOLE_WRITE_MAX],
        length: usize,
    },
    ConsoleWriteInvalid {
        length: u64,
    },
    DomainReady,
    Yield,
    ChannelNotify {
        channel: u64,
    },
    TrustedTimeSet {
        unix_nanoseconds: u64,
    },
    /// Anything else: answered with NOT_SUPPORTED.
    Unknown {
        function_id: u32,
    },
}

impl Call {
    /// Decodes the call in x0 with its arguments in x1-x6 (the hypervisor's own calls use up to
    /// x6; PSCI only x1-x3).
    pub fn decode_registers(x: &[u64; 7]) -> Call {
        use hypercall::*;
        match x[0] as u32 {
            HYP_VERSION => Call::HypVersion,
            DOMAIN_INFO => Call::DomainInfo,
            DOMAIN_READY => Call::DomainReady,
            YIELD => Call::Yield,
            CHANNEL_NOTIFY => Call::ChannelNotify { channel: x[1] },
            TRUSTED_TIME_SET => Call::TrustedTimeSet {
                unix_nanoseconds: x[1],
            },
            CONSOLE_WRITE => {
                let length = x[1];
                if length == 0 || length > CONSOLE_WRITE_MAX as u64 {
                    return Call::ConsoleWriteInvalid { length };
                }
                let mut bytes = [0; CONSOLE_WRITE_MAX];
                for (chunk, word) in bytes.chunks_mut(8).zip(&x[2..7]) {
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                Call::ConsoleWrite {
                    bytes,
                    length: length as usize,
                }
            }
            _ => Call::decode(x[0], x[1], x[2], x[3]),
        }
    }

    /// Decodes the call in x0 with its arguments in x1-x3. SMC32 calls only use the low 32 bits
    /// of each argument (SMCCC 2.6), so those are truncated here.
    pub fn decode(x0: u64, x1: u64, x2: u64, x3: u64) -> Call {
        let function_id = x0 as u32;
        let is_64 = function_id & (1 << 30) != 0;
        let argument = |value: u64| if is_64 { value } else { value & 0xffff_ffff };
        let (a1, a2, a3) = (argument(x1), argument(x2), argument(x3));
        use function::*;
        match function_id {
            PSCI_VERSION => Call::PsciVersion,
            CPU_SUSPEND_32 | CPU_SUSPEND_64 => Call::CpuSuspend {
                power_state: a1,
                entry_point: a2,
                context: a3,
            },
            CPU_OFF => Call::CpuOff,
            CPU_ON_32 | CPU_ON_64 => Call::CpuOn {
                target_mpidr: a1,
                entry_point: a2,
                context: a3,
            },
            AFFINITY_INFO_32 | AFFINITY_INFO_64 => Call::AffinityInfo {
                target_mpidr: a1,
                lowest_level: a2,
            },
            MIGRATE_INFO_TYPE => Call::MigrateInfoType,
            SYSTEM_OFF => Call::SystemOff,
            SYSTEM_RESET => Call::SystemReset,
            PSCI_FEATURES => Call::PsciFeatures {
                function_id: a1 as u32,
            },
            SMCCC_VERSION => Call::SmcccVersion,
            SMCCC_ARCH_FEATURES => Call::SmcccArchFeatures {
                function_id: a1 as u32,
            },
            _ => Call::Unknown { function_id },
        }
    }
}

/// PSCI_FEATURES: which function IDs this implementation supports (0 = supported with no
/// optional features; for CPU_SUSPEND 0 also means the original power_state format).
pub fn psci_features(function_id: u32) -> u64 {
    use function::*;
    match function_id {
        PSCI_VERSION | CPU_SUSPEND_32 | CPU_SUSPEND_64 | CPU_OFF | CPU_ON_32 | CPU_ON_64
        | AFFINITY_INFO_32 | AFFINITY_INFO_64 | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET
        | PSCI_FEATURES | SMCCC_VERSION => status::SUCCESS,
        _ => status::NOT_SUPPORTED,
    }
}

/// Calls that a well-behaved guest makes to find out what exists (the TRNG service, the
/// hypervisor vendor's UID and revision): answered NOT_SUPPORTED without a fault log line, since
/// nothing is wrong with asking. Any other unknown call is logged as the guest's mistake.
pub fn is_standard_discovery_call(function_id: u32) -> bool {
    const TRNG_VERSION: u32 = 0x8400_0050;
    const TRNG_LAST: u32 = 0x8400_0053;
    const TRNG_RND64: u32 = 0xc400_0053;
    const VENDOR_HYPERVISOR_CALL_UID: u32 = 0x8600_ff01;
    const VENDOR_HYPERVISOR_REVISION: u32 = 0x8600_ff03;
    matches!(
        function_id,
        TRNG_VERSION
            ..=TRNG_LAST | TRNG_RND64 | VENDOR_HYPERVISOR_CALL_UID | VENDOR_HYPERVISOR_REVISION
    )
}

/// The vCPU index a guest MPIDR names: guests see Aff0 = vCPU index and every higher affinity
/// level zero. Anything else names no vCPU.
pub fn vcpu_of_mpidr(mpidr: u64, vcpu_count: usize) -> Option<usize> {
    let affinity = mpidr & 0xff_00ff_ffff;
    let index = (affinity & 0xff) as usize;
    (affinity >> 8 == 0 && index < vcpu_count).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_psci_calls_and_truncates_smc32_arguments() {
        assert_eq!(Call::decode(0x8400_0000, 0, 0, 0), Call::PsciVersion);
        assert_eq!(
            Call::decode(0xc400_0003, 2, 0x4008_0000, 0x1234),
            Call::CpuOn {
                target_mpidr: 2,
                entry_point: 0x4008_0000,
                context: 0x1234
            }
        );
        assert_eq!(
            Call::decode(0x8400_0003, 0xffff_ffff_0000_0001, 0x1_4008_0000, 7),
            Call::CpuOn {
                target_mpidr: 1,
                entry_point: 0x4008_0000,
                context: 7
            }
        );
        assert_eq!(Call::decode(0x8400_0009, 0, 0, 0), Call::SystemReset);
        assert_eq!(
            Call::decode(0xc600_ffff, 0, 0, 0),
            Call::Unknown {
                function_id: 0xc600_ffff
            }
        );
        // The upper half of x0 is ignored: the function ID is W0.
        assert_eq!(
            Call::decode(0xdead_0000_8400_0008, 0, 0, 0),
            Call::SystemOff
        );
    }

    #[test]
    fn decodes_the_hypervisor_calls_and_refuses_bad_console_lengths() {
        let mut x = [0u64; 7];
        x[0] = hypercall::CONSOLE_WRITE as u64;
        x[1] = 10;
        x[2] = u64::from_le_bytes(*b"hello, w");
        x[3] = u64::from_le_bytes(*b"orld\0\0\0\0");
        match Call::decode_registers(&x) {
            Call::ConsoleWrite { bytes, length } => assert_eq!(&bytes[..length], b"hello, wor"),
            other => panic!("decoded as {other:?}"),
        }
        x[1] = 41;
        assert_eq!(
            Call::decode_registers(&x),
            Call::ConsoleWriteInvalid { length: 41 }
        );
        x[1] = 0;
        assert_eq!(
            Call::decode_registers(&x),
            Call::ConsoleWriteInvalid { length: 0 }
        );
        x[0] = hypercall::DOMAIN_READY as u64;
        assert_eq!(Call::decode_registers(&x), Call::DomainReady);
        x[0] = 0xc600_0099;
        assert_eq!(
            Call::decode_registers(&x),
            Call::Unknown {
                function_id: 0xc600_0099
            }
        );
        x[0] = function::PSCI_VERSION as u64;
        assert_eq!(Call::decode_registers(&x), Call::PsciVersion);
    }

    #[test]
    fn decodes_trusted_time_with_its_full_64_bit_argument() {
        let mut x = [0u64; 7];
        x[0] = 0xc600_0006;
        x[1] = 1_700_000_000_123_456_789;
        assert_eq!(
            Call::decode_registers(&x),
            Call::TrustedTimeSet {
                unix_nanoseconds: 1_700_000_000_123_456_789
            }
        );
        // The upper half of x0 is not part of the function ID.
        x[0] |= 0xffff_ffff_0000_0000;
        x[1] = u64::MAX;
        assert_eq!(
            Call::decode_registers(&x),
            Call::TrustedTimeSet {
                unix_nanoseconds: u64::MAX
            }
        );
    }

    #[test]
    fn features_cover_what_is_implemented_only() {
        assert_eq!(psci_features(function::CPU_ON_64), status::SUCCESS);
        assert_eq!(psci_features(0x8400_000c), status::NOT_SUPPORTED);
        assert_eq!(status::NOT_SUPPORTED, u64::MAX);
    }

    #[test]
    fn discovery_probes_are_known_and_bogus_calls_are_not() {
        assert!(is_standard_discovery_call(0x8400_0050));
        assert!(is_standard_discovery_call(0x8600_ff01));
        assert!(!is_standard_discovery_call(0xc600_0000));
        assert!(!is_standard_discovery_call(0x1234_5678));
    }

    #[test]
    fn mpidr_names_a_vcpu_only_within_range() {
        assert_eq!(vcpu_of_mpidr(0x8000_0003, 4), Some(3));
        assert_eq!(vcpu_of_mpidr(4, 4), None);
        assert_eq!(vcpu_of_mpidr(0x100, 4), None);
    }
}

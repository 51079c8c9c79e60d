//! GICv3 system registers: `aarch64-cpu` where it has them, typed `mrs`/`msr` for the rest, fakes on the host.

// On other architectures every accessor is an in-memory fake, so host tests can run the drivers.
// Field definitions of `aarch64-cpu`'s registers are used from `aarch64_cpu::registers::*` on every
// architecture; the ones below cover the registers it lacks. ICC_CTLR_EL1 is here too: `aarch64-cpu` only
// offers reading it, and without the EOImode field.

use tock_registers::register_bitfields;

register_bitfields! {u64,
    /// ICC_IAR1_EL1: the Group 1 interrupt acknowledged by this read.
    pub ICC_IAR1_EL1 [
        INTID OFFSET(0) NUMBITS(24) [],
    ],
    /// ICC_EOIR1_EL1: priority drop (and, with EOImode = 0, deactivation) of a Group 1 interrupt.
    pub ICC_EOIR1_EL1 [
        INTID OFFSET(0) NUMBITS(24) [],
    ],
    /// ICC_DIR_EL1: deactivation, with EOImode = 1.
    pub ICC_DIR_EL1 [
        INTID OFFSET(0) NUMBITS(24) [],
    ],
    /// ICC_PMR_EL1: only interrupts of higher priority (lower value) than this are signalled.
    pub ICC_PMR_EL1 [
        Priority OFFSET(0) NUMBITS(8) [],
    ],
    /// ICC_CTLR_EL1.
    pub ICC_CTLR_EL1 [
        CBPR OFFSET(0) NUMBITS(1) [],
        /// 1: an EOIR write only drops priority; a DIR write deactivates.
        EOImode OFFSET(1) NUMBITS(1) [],
        PMHE OFFSET(6) NUMBITS(1) [],
        PRIbits OFFSET(8) NUMBITS(3) [],
        IDbits OFFSET(11) NUMBITS(3) [],
        SEIS OFFSET(14) NUMBITS(1) [],
        A3V OFFSET(15) NUMBITS(1) [],
        /// Range Selector Support: SGIs can target Aff0 values 16 and above.
        RSS OFFSET(18) NUMBITS(1) [],
        ExtRange OFFSET(19) NUMBITS(1) [],
    ],
    /// ICC_IGRPEN1_EL1.
    pub ICC_IGRPEN1_EL1 [
        Enable OFFSET(0) NUMBITS(1) [],
    ],
    /// ICC_SGI1R_EL1: generates a Group 1 SGI for the current Security state.
    pub ICC_SGI1R_EL1 [
        /// The CPUs with Aff0 = RS * 16 + n, for each bit n, within cluster Aff3.Aff2.Aff1.
        TargetList OFFSET(0) NUMBITS(16) [],
        Aff1 OFFSET(16) NUMBITS(8) [],
        INTID OFFSET(24) NUMBITS(4) [],
        Aff2 OFFSET(32) NUMBITS(8) [],
        IRM OFFSET(40) NUMBITS(1) [
            ListedCpus = 0,
            AllOtherCpus = 1,
        ],
        RS OFFSET(44) NUMBITS(4) [],
        Aff3 OFFSET(48) NUMBITS(8) [],
    ],
    /// ICH_EISR_EL2: bit n set when list register n holds a deactivated interrupt that asked for an EOI
    /// maintenance interrupt.
    pub ICH_EISR_EL2 [
        Status OFFSET(0) NUMBITS(16) [],
    ],
    /// ICH_ELRSR_EL2: bit n set when list register n is free.
    pub ICH_ELRSR_EL2 [
        Status OFFSET(0) NUMBITS(16) [],
    ],
}

/// Declares an accessor (a zero-sized type and its constant, as `aarch64-cpu` does) for a system register
/// by its architectural encoding, so that no assembler support for the register name is needed.
macro_rules! system_register {
    (
        $(#[$doc:meta])*
        $name:ident: $type:ident = $encoding:literal, $fields:ty $(, $access:ident)+
    ) => {
        $(#[$doc])*
        pub(crate) struct $type;

        $(#[$doc])*
        pub(crate) const $name: $type = $type;

        $( system_register!(@$access $type, $encoding, $fields); )+

        #[cfg(not(target_arch = "aarch64"))]
        fake_storage!($type);
    };
    (@read $type:ident, $encoding:literal, $fields:ty) => {
        impl tock_registers::interfaces::Readable for $type {
            type T = u64;
            type R = $fields;

            #[inline]
            fn get(&self) -> u64 {
                #[cfg(target_arch = "aarch64")]
                {
                    let value;
                    // SAFETY: reading this GIC system register at EL2 has no effect on memory. (Reading
                    // ICC_IAR1_EL1 acknowledges an interrupt, which is the point of reading it.) No `nomem`:
                    // the compiler must not move memory accesses across an interrupt acknowledge.
                    unsafe {
                        core::arch::asm!(
                            concat!("mrs {value}, ", $encoding),
                            value = out(reg) value,
                            options(nostack, preserves_flags),
                        );
                    }
                    value
                }
                #[cfg(not(target_arch = "aarch64"))]
                {
                    Self::fake().load(core::sync::atomic::Ordering::SeqCst)
                }
            }
        }
    };
    (@write $type:ident, $encoding:literal, $fields:ty) => {
        impl tock_registers::interfaces::Writeable for $type {
            type T = u64;
            type R = $fields;

            #[inline]
            fn set(&self, value: u64) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: writing this GIC system register at EL2 changes interrupt state only, never memory
                // the program can see. No `nomem`: EOI, deactivation and SGIs are ordered with memory
                // accesses around them.
                unsafe {
                    core::arch::asm!(
                        concat!("msr ", $encoding, ", {value}"),
                        value = in(reg) value,
                        options(nostack, preserves_flags),
                    );
                }
                #[cfg(not(target_arch = "aarch64"))]
                Self::fake().store(value, core::sync::atomic::Ordering::SeqCst);
            }
        }
    };
}

/// On the host, stands in for an `aarch64-cpu` register accessor with a readable and writable fake.
#[cfg(not(target_arch = "aarch64"))]
macro_rules! fake_aarch64_cpu_register {
    ($($name:ident: $type:ident, $fields:ty;)+) => {
        $(
            pub(crate) struct $type;

            pub(crate) const $name: $type = $type;

            fake_storage!($type);

            impl tock_registers::interfaces::Readable for $type {
                type T = u64;
                type R = $fields;

                fn get(&self) -> u64 {
                    Self::fake().load(core::sync::atomic::Ordering::SeqCst)
                }
            }

            impl tock_registers::interfaces::Writeable for $type {
                type T = u64;
                type R = $fields;

                fn set(&self, value: u64) {
                    Self::fake().store(value, core::sync::atomic::Ordering::SeqCst);
                }
            }
        )+
    };
}

/// The fake's value: one static per register type, which tests set and inspect directly.
#[cfg(not(target_arch = "aarch64"))]
macro_rules! fake_storage {
    ($type:ident) => {
        impl $type {
            #[allow(
                dead_code,
                reason = "tests read and write the fakes; the drivers do not"
            )]
            pub(crate) fn fake() -> &'static core::sync::atomic::AtomicU64 {
                static VALUE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
                &VALUE
            }

            /// The fake's current value (for write-only registers, the last value written).
            #[allow(
                dead_code,
                reason = "tests read and write the fakes; the drivers do not"
            )]
            pub(crate) fn fake_value(&self) -> u64 {
                Self::fake().load(core::sync::atomic::Ordering::SeqCst)
            }
        }
    };
}

// IHI 0069, "AArch64 System register descriptions": op0_op1_Cn_Cm_op2 encodings.
system_register!(ICC_IAR1_EL1: IccIar1El1 = "S3_0_C12_C12_0", ICC_IAR1_EL1::Register, read);
system_register!(ICC_EOIR1_EL1: IccEoir1El1 = "S3_0_C12_C12_1", ICC_EOIR1_EL1::Register, write);
system_register!(ICC_DIR_EL1: IccDirEl1 = "S3_0_C12_C11_1", ICC_DIR_EL1::Register, write);
system_register!(ICC_PMR_EL1: IccPmrEl1 = "S3_0_C4_C6_0", ICC_PMR_EL1::Register, read, write);
system_register!(ICC_CTLR_EL1: IccCtlrEl1 = "S3_0_C12_C12_4", ICC_CTLR_EL1::Register, read, write);
system_register!(ICC_IGRPEN1_EL1: IccIgrpen1El1 = "S3_0_C12_C12_7", ICC_IGRPEN1_EL1::Register, read, write);
system_register!(ICC_SGI1R_EL1: IccSgi1rEl1 = "S3_0_C12_C11_5", ICC_SGI1R_EL1::Register, write);
system_register!(ICH_EISR_EL2: IchEisrEl2 = "S3_4_C12_C11_3", ICH_EISR_EL2::Register, read);
system_register!(ICH_ELRSR_EL2: IchElrsrEl2 = "S3_4_C12_C11_5", ICH_ELRSR_EL2::Register, read);

#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64_cpu::registers::{
    ICC_SRE_EL2, ICH_AP0R0_EL2, ICH_AP0R1_EL2, ICH_AP0R2_EL2, ICH_AP0R3_EL2, ICH_AP1R0_EL2,
    ICH_AP1R1_EL2, ICH_AP1R2_EL2, ICH_AP1R3_EL2, ICH_HCR_EL2, ICH_LR0_EL2, ICH_LR10_EL2,
    ICH_LR11_EL2, ICH_LR12_EL2, ICH_LR13_EL2, ICH_LR14_EL2, ICH_LR15_EL2, ICH_LR1_EL2, ICH_LR2_EL2,
    ICH_LR3_EL2, ICH_LR4_EL2, ICH_LR5_EL2, ICH_LR6_EL2, ICH_LR7_EL2, ICH_LR8_EL2, ICH_LR9_EL2,
    ICH_MISR_EL2, ICH_VMCR_EL2, ICH_VTR_EL2,
};

#[cfg(not(target_arch = "aarch64"))]
fake_aarch64_cpu_register! {
    ICC_SRE_EL2: IccSreEl2, aarch64_cpu::registers::ICC_SRE_EL2::Register;
    ICH_HCR_EL2: IchHcrEl2, aarch64_cpu::registers::ICH_HCR_EL2::Register;
    ICH_VTR_EL2: IchVtrEl2, aarch64_cpu::registers::ICH_VTR_EL2::Register;
    ICH_MISR_EL2: IchMisrEl2, ();
    ICH_VMCR_EL2: IchVmcrEl2, ();
    ICH_AP0R0_EL2: IchAp0r0El2, ();
    ICH_AP0R1_EL2: IchAp0r1El2, ();
    ICH_AP0R2_EL2: IchAp0r2El2, ();
    ICH_AP0R3_EL2: IchAp0r3El2, ();
    ICH_AP1R0_EL2: IchAp1r0El2, ();
    ICH_AP1R1_EL2: IchAp1r1El2, ();
    ICH_AP1R2_EL2: IchAp1r2El2, ();
    ICH_AP1R3_EL2: IchAp1r3El2, ();
    ICH_LR0_EL2: IchLr0El2, ();
    ICH_LR1_EL2: IchLr1El2, ();
    ICH_LR2_EL2: IchLr2El2, ();
    ICH_LR3_EL2: IchLr3El2, ();
    ICH_LR4_EL2: IchLr4El2, ();
    ICH_LR5_EL2: IchLr5El2, ();
    ICH_LR6_EL2: IchLr6El2, ();
    ICH_LR7_EL2: IchLr7El2, ();
    ICH_LR8_EL2: IchLr8El2, ();
    ICH_LR9_EL2: IchLr9El2, ();
    ICH_LR10_EL2: IchLr10El2, ();
    ICH_LR11_EL2: IchLr11El2, ();
    ICH_LR12_EL2: IchLr12El2, ();
    ICH_LR13_EL2: IchLr13El2, ();
    ICH_LR14_EL2: IchLr14El2, ();
    ICH_LR15_EL2: IchLr15El2, ();
}

/// Serialises host tests that use the fakes, which are shared statics.
#[cfg(test)]
pub(crate) static FAKE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

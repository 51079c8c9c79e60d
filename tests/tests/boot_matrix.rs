//! The guest boots under hyp-arm on each GIC version, CPU model and CPU count, and sees all its
//! CPUs and a ticking timer.

use hyp_arm_system_tests::{guest, BootConfig, Failure, GicVersion, Mode, Qemu};

fn boots(gic_version: GicVersion, cpu: &str, smp: u32) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        cpu: cpu.to_string(),
        smp,
        bootargs_extra: Mode::Boot.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    guest::check_boot_report(&mut qemu, smp)
}

/// One test per machine, so that a failure names it.
macro_rules! boot_matrix {
    ($($name:ident: $gic_version:ident, $cpu:literal, $smp:literal;)*) => {
        $(
            #[test]
            fn $name() -> Result<(), Failure> {
                boots(GicVersion::$gic_version, $cpu, $smp)
            }
        )*
    };
}

boot_matrix! {
    gic2_cortex_a53_smp1: V2, "cortex-a53", 1;
    gic2_cortex_a53_smp4: V2, "cortex-a53", 4;
    gic2_cortex_a57_smp1: V2, "cortex-a57", 1;
    gic2_cortex_a57_smp4: V2, "cortex-a57", 4;
    gic2_cortex_a72_smp1: V2, "cortex-a72", 1;
    gic2_cortex_a72_smp4: V2, "cortex-a72", 4;
    gic3_cortex_a53_smp1: V3, "cortex-a53", 1;
    gic3_cortex_a53_smp4: V3, "cortex-a53", 4;
    gic3_cortex_a57_smp1: V3, "cortex-a57", 1;
    gic3_cortex_a57_smp4: V3, "cortex-a57", 4;
    gic3_cortex_a72_smp1: V3, "cortex-a72", 1;
    gic3_cortex_a72_smp4: V3, "cortex-a72", 4;
}

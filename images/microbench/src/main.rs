//! A bare-metal guest that measures what a hypervisor's exits cost, with the generic counter:
//! a null hypercall, trapped GIC distributor accesses (stage-2 data aborts the hypervisor
//! emulates), a virtual IPI between two vCPUs and virtual timer interrupt latency. It reports
//! through semihosting (`MICROBENCH <name> <ticks per operation> <iterations>` lines, then
//! `MICROBENCH-DONE`) and exits QEMU. With `pmu=el2` it also reports, for the synchronous
//! operations, the instructions the hypervisor ran per operation (`MICROBENCH-EL2 <name>
//! <instructions>`), from the PMU.
//!
//! Entered like a Linux kernel: EL1, MMU off, x0 = device tree, anywhere in RAM. Under
//! `-icount shift=0` one counter tick is 16 instructions.
//!
//! Its command line (`/chosen/bootargs`: QEMU's `-append`, guest-loader's `bootargs=`) may set
//! `iterations=N` (the synchronous operations' loops, default 2000) and `rounds=N` (the interrupt
//! round trips, default 200), each from 1 to 1,000,000: the system test's smoke run uses a few.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod device_tree;
mod entry;
mod gic;
mod pmu;
mod semihosting;

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, MPIDR_EL1,
};

use hyp_arm_guest_support::command_line;

use crate::device_tree::Platform;
use crate::gic::{Gic, GicVersion, FIRST_SPECIAL_INTID, GICD_IPRIORITYR, GICD_TYPER};
use crate::semihosting::Line;

/// Iterations of the operations that complete synchronously (hypercall, MMIO), unless the
/// command line's `iterations=` says otherwise.
const DEFAULT_ITERATIONS: u64 = 2000;
/// Iterations of the interrupt round trips (IPI, timer), unless `rounds=` says otherwise.
const DEFAULT_ROUNDS: u32 = 200;
/// The most of either: keeps a typo from running for hours.
const MAX_ITERATIONS: u64 = 1_000_000;
/// How far ahead the timer is armed, in ticks.
const TIMER_DELAY: u64 = 1000;

/// The SGI the IPI benchmark sends.
const IPI_SGI: u32 = 1;
/// The EL1 virtual timer's PPI (Arm BSA; QEMU virt's device tree says the same).
const VIRTUAL_TIMER_PPI: u32 = 27;

// SMCCC / PSCI function IDs (Arm DEN 0022).
const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_CPU_ON: u64 = 0xc400_0003;

// The GIC, for the interrupt handler: its version (0 until set up), distributor and CPU side.
static GIC_VERSION: AtomicU8 = AtomicU8::new(0);
static GIC_DISTRIBUTOR: AtomicU64 = AtomicU64::new(0);
static GIC_CPU_SIDE: AtomicU64 = AtomicU64::new(0);

/// CPU 1's GICv2 target-list bit, plus 0x100 once it is ready for SGIs.
static SECONDARY_READY: AtomicU32 = AtomicU32::new(0);
const READY: u32 = 0x100;

/// Interrupts taken so far, and the counter at the last one's handler entry.
static IPI_COUNT: AtomicU32 = AtomicU32::new(0);
static IPI_ARRIVAL: AtomicU64 = AtomicU64::new(0);
static TIMER_COUNT: AtomicU32 = AtomicU32::new(0);
static TIMER_ARRIVAL: AtomicU64 = AtomicU64::new(0);

/// The boot CPU, from the entry code with the loader's x0.
pub extern "C" fn main(dtb: u64) -> ! {
    // SAFETY: the boot protocol passes the device tree in x0; the loaders used here always do.
    let platform = match unsafe { device_tree::parse(dtb) } {
        Ok(platform) => platform,
        Err(error) => fail(error.0),
    };
    let [distributor, cpu_side] = platform.gic_regions;
    // SAFETY: these are the GIC's regions as the device tree gives them; only this program
    // drives the GIC (the hypervisor, if any, emulates what we see of it).
    let gic = unsafe { Gic::new(platform.gic_version, distributor, cpu_side) };
    GIC_DISTRIBUTOR.store(distributor, Ordering::Relaxed);
    GIC_CPU_SIDE.store(cpu_side, Ordering::Relaxed);
    GIC_VERSION.store(
        match platform.gic_version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        },
        Ordering::Release,
    );
    Line::new()
        .text("MICROBENCH-START gic=v")
        .number(if gic.version() == GicVersion::V2 {
            2
        } else {
            3
        })
        .text(" conduit=")
        .text(if platform.psci_smc { "smc" } else { "hvc" })
        .text(" cpus=")
        .number(platform.cpu_count as u64)
        .print();
    let iterations = count_option(platform.bootargs, "iterations", DEFAULT_ITERATIONS);
    // MAX_ITERATIONS fits a u32, so this never saturates.
    let rounds = u32::try_from(count_option(
        platform.bootargs,
        "rounds",
        u64::from(DEFAULT_ROUNDS),
    ))
    .unwrap_or(u32::MAX);
    gic.init_distributor();
    if !gic.init_cpu(mpidr(), &[IPI_SGI, VIRTUAL_TIMER_PPI]) {
        fail("no GICv3 redistributor for the boot CPU");
    }

    let el2_instructions = match command_line::option(platform.bootargs, b"pmu") {
        None => None,
        Some(b"el2") => match pmu::El2Instructions::start() {
            Some(counter) => Some(counter),
            None => fail("pmu=el2: this CPU has no PMUv3"),
        },
        Some(_) => fail("the command line's pmu= can only be el2"),
    };
    let counter = el2_instructions.as_ref();
    let baseline = measured("empty-loop", iterations, counter, || {
        // SAFETY: an empty instruction sequence; it only keeps the loop from being removed.
        unsafe { asm!("", options(nomem, nostack, preserves_flags)) }
    });
    let name = "hypercall-psci-version";
    let hypercall = measured(name, iterations, counter, || {
        psci_call(&platform, PSCI_VERSION, 0, 0, 0);
    });
    report(name, hypercall, baseline, iterations);
    let name = "gicd-typer-read";
    let read = measured(name, iterations, counter, || {
        gic.distributor_read(GICD_TYPER);
    });
    report(name, read, baseline, iterations);
    // SPIs 32-35 are never enabled here, so their priority does not matter.
    let name = "gicd-ipriorityr-write";
    let write = measured(name, iterations, counter, || {
        gic.distributor_write(GICD_IPRIORITYR + 32, 0xa0a0_a0a0);
    });
    report(name, write, baseline, iterations);

    timer_latency(rounds);
    match other_cpu(&platform) {
        Some(target) => ipi_latency(&platform, &gic, target, rounds),
        None => Line::new()
            .text("MICROBENCH-SKIP ipi-sgi-to-handler (one CPU)")
            .print(),
    }
    Line::new().text("MICROBENCH-DONE").print();
    semihosting::exit(0)
}

/// `name=N` from the command line, within 1..=MAX_ITERATIONS; `default` without one. A bad
/// value stops the run with a failure report naming the option.
fn count_option(bootargs: &[u8], name: &str, default: u64) -> u64 {
    let Some(text) = command_line::option(bootargs, name.as_bytes()) else {
        return default;
    };
    match command_line::number(text) {
        Some(count) if (1..=MAX_ITERATIONS).contains(&count) => count,
        _ => {
            Line::new()
                .text("MICROBENCH-FAIL the command line's ")
                .text(name)
                .text("= is not a number from 1 to 1000000")
                .print();
            semihosting::exit(1)
        }
    }
}

/// Virtual timer, `rounds` times: armed `TIMER_DELAY` ticks ahead, from the deadline to handler
/// entry.
fn timer_latency(rounds: u32) {
    let mut total = 0;
    for round in 1..=rounds {
        let deadline = counter() + TIMER_DELAY;
        CNTV_CVAL_EL0.set(deadline);
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
        wait_for_interrupt(|| TIMER_COUNT.load(Ordering::Acquire) == round);
        total += TIMER_ARRIVAL
            .load(Ordering::Relaxed)
            .saturating_sub(deadline);
    }
    report_events("vtimer-deadline-to-handler", total, rounds);
}

/// Virtual IPI, `rounds` times: SGI sent on this CPU to handler entry on `target`, started with
/// PSCI CPU_ON.
fn ipi_latency(platform: &Platform, gic: &Gic, target: u64, rounds: u32) {
    let entry = entry::secondary_entry as *const () as u64;
    let status = psci_call(
        platform,
        PSCI_CPU_ON,
        target,
        entry,
        entry::secondary_stack_top(),
    );
    if status != 0 {
        fail("PSCI CPU_ON failed for the second CPU");
    }
    while SECONDARY_READY.load(Ordering::Acquire) & READY == 0 {
        aarch64_cpu::asm::wfe();
    }
    let target_mask = SECONDARY_READY.load(Ordering::Relaxed) as u8;
    let mut total = 0;
    for round in 1..=rounds {
        let sent = counter();
        gic.send_sgi(IPI_SGI, target, target_mask);
        while IPI_COUNT.load(Ordering::Acquire) != round {
            // WFE rather than a busy loop: QEMU switches to the other CPU on it.
            aarch64_cpu::asm::wfe();
        }
        total += IPI_ARRIVAL.load(Ordering::Relaxed).saturating_sub(sent);
    }
    report_events("ipi-sgi-to-handler", total, rounds);
}

/// The second CPU, from the entry code: takes SGIs until the run ends.
pub extern "C" fn secondary_main() -> ! {
    let gic = gic();
    if !gic.init_cpu(mpidr(), &[IPI_SGI]) {
        fail("no GICv3 redistributor for the second CPU");
    }
    SECONDARY_READY.store(READY | u32::from(gic.cpu_target_mask()), Ordering::Release);
    aarch64_cpu::asm::sev();
    // SAFETY: unmasking IRQs; the vector table is installed and the handler is ready.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// IRQ exceptions on either CPU, from the vector table.
pub extern "C" fn irq_handler() {
    let arrival = counter();
    let gic = gic();
    let acknowledged = gic.acknowledge();
    let intid = acknowledged & 0x3ff;
    if intid >= FIRST_SPECIAL_INTID {
        return;
    }
    match intid {
        IPI_SGI => {
            IPI_ARRIVAL.store(arrival, Ordering::Relaxed);
            IPI_COUNT.store(IPI_COUNT.load(Ordering::Relaxed) + 1, Ordering::Release);
            aarch64_cpu::asm::sev();
        }
        VIRTUAL_TIMER_PPI => {
            CNTV_CTL_EL0.set(0);
            TIMER_ARRIVAL.store(arrival, Ordering::Relaxed);
            TIMER_COUNT.store(TIMER_COUNT.load(Ordering::Relaxed) + 1, Ordering::Release);
        }
        _ => {}
    }
    gic.end_of_interrupt(acknowledged);
}

/// Any other exception, from the vector table: `entry` is its vector number (Arm ARM D1.10.2).
pub extern "C" fn unexpected_exception(entry: u64, esr: u64, elr: u64, far: u64) -> ! {
    Line::new()
        .text("MICROBENCH-FAIL exception vector ")
        .number(entry)
        .text(" ESR ")
        .hex(esr)
        .text(" ELR ")
        .hex(elr)
        .text(" FAR ")
        .hex(far)
        .print();
    semihosting::exit(1)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail("panic")
}

fn fail(message: &str) -> ! {
    Line::new().text("MICROBENCH-FAIL ").text(message).print();
    semihosting::exit(1)
}

/// The GIC as `main` set it up.
fn gic() -> Gic {
    let version = match GIC_VERSION.load(Ordering::Acquire) {
        2 => GicVersion::V2,
        3 => GicVersion::V3,
        _ => fail("interrupt before the GIC was set up"),
    };
    // SAFETY: `main` stored the device tree's GIC regions before the version.
    unsafe {
        Gic::new(
            version,
            GIC_DISTRIBUTOR.load(Ordering::Relaxed),
            GIC_CPU_SIDE.load(Ordering::Relaxed),
        )
    }
}

/// The first CPU in the device tree that is not this one.
fn other_cpu(platform: &Platform) -> Option<u64> {
    let own = mpidr();
    platform.cpus[..platform.cpu_count]
        .iter()
        .copied()
        .find(|&cpu| cpu != own)
}

/// This CPU's affinity fields (Aff3, Aff2, Aff1, Aff0), as device trees write them.
fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// The virtual counter, after every earlier instruction.
fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Ticks `iterations` runs of `operation` take.
fn timed(iterations: u64, mut operation: impl FnMut()) -> u64 {
    let start = counter();
    for _ in 0..iterations {
        operation();
    }
    counter() - start
}

/// Waits with IRQs masked between the check and WFI, so an interrupt cannot slip in between
/// (WFI wakes on a pending interrupt even while masked), then takes it.
fn wait_for_interrupt(done: impl Fn() -> bool) {
    loop {
        // SAFETY: masking and unmasking IRQs at this CPU; the handler is ready for them.
        unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
        if done() {
            // SAFETY: as above.
            unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
            return;
        }
        aarch64_cpu::asm::wfi();
        // SAFETY: as above.
        unsafe { asm!("msr daifclr, #2", "isb", options(nomem, nostack)) };
    }
}

/// A PSCI call through the device tree's conduit; returns x0.
fn psci_call(platform: &Platform, function: u64, first: u64, second: u64, third: u64) -> u64 {
    let result;
    // SAFETY: an SMCCC call (Arm DEN 0028): it may change x0-x17 and nothing else; the PSCI
    // calls made here touch no memory of ours (CPU_ON starts the other CPU on its own stack).
    unsafe {
        if platform.psci_smc {
            asm!("smc #0", inout("x0") function => result, inout("x1") first => _,
                inout("x2") second => _, inout("x3") third => _, clobber_abi("C"));
        } else {
            asm!("hvc #0", inout("x0") function => result, inout("x1") first => _,
                inout("x2") second => _, inout("x3") third => _, clobber_abi("C"));
        }
    }
    result
}

/// Prints the cost per operation of a loop of `iterations`, less the empty loop's.
fn report(name: &str, ticks: u64, baseline: u64, iterations: u64) {
    let hundredths = ticks.saturating_sub(baseline) * 100 / iterations;
    Line::new()
        .text("MICROBENCH ")
        .text(name)
        .text(" ")
        .hundredths(hundredths)
        .text(" ")
        .number(iterations)
        .print();
}

/// `timed`, and with `el2_instructions` also the hypervisor's instructions per operation,
/// reported at once.
fn measured(
    name: &str,
    iterations: u64,
    el2_instructions: Option<&pmu::El2Instructions>,
    operation: impl FnMut(),
) -> u64 {
    let before = el2_instructions.map(pmu::El2Instructions::read);
    let ticks = timed(iterations, operation);
    if let (Some(counter), Some(before)) = (el2_instructions, before) {
        report_el2(name, counter.read().wrapping_sub(before), iterations);
    }
    ticks
}

/// Prints the hypervisor's instructions per operation: `instructions` over `iterations`.
fn report_el2(name: &str, instructions: u32, iterations: u64) {
    Line::new()
        .text("MICROBENCH-EL2 ")
        .text(name)
        .text(" ")
        .hundredths(u64::from(instructions) * 100 / iterations)
        .print();
}

/// Prints the mean of `rounds` measured latencies totalling `ticks`.
fn report_events(name: &str, ticks: u64, rounds: u32) {
    report(name, ticks, 0, u64::from(rounds));
}

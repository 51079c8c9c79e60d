//! A hostile guest: a bare-metal EL1 program that tries to reach everything a guest must not
//! (other memory, interrupts it does not own, vCPUs it does not have, hypercalls with bad
//! arguments) and counts what the hypervisor blocked and what leaked.
//!
//! Entered like a Linux kernel (EL1, MMU off, x0 = device tree, anywhere in RAM), for instance
//! through QEMU's guest-loader under hyp-arm. Prints on the PL011 of `/chosen/stdout-path`:
//! `HOSTILE-LEAK <what> <address>` per leak, then `HOSTILE-SUMMARY tried=N blocked=M leaked=L`,
//! then idles (or powers off with `exit=poweroff`; see `options.rs` for the command line).
//!
//! With `vsock-faults` on the command line it drives the virtio-vsock device with malformed
//! queues and packets instead (`vsock/mod.rs`).
//!
//! With the MMU off every access is Device-nGnRnE: misaligned accesses fault at EL1 before the
//! hypervisor sees them, which counts as blocked.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod access;
mod calls;
mod console;
mod entry;
mod fault;
mod gic;
mod hypercall;
mod machine;
mod memory;
mod options;
mod tally;
mod vsock;

use crate::console::Line;
use crate::machine::GicVersion;

/// The entry code calls this with the loader's x0.
pub extern "C" fn main(dtb: u64) -> ! {
    // SAFETY: the boot protocol passes the device tree in x0; hyp-arm and QEMU always do.
    let machine = match unsafe { machine::read(dtb) } {
        Ok(machine) => machine,
        // No console known yet: the hypercall console is the only way to say why.
        Err(error) => fail(error.0),
    };
    hypercall::use_smc(machine.psci_smc);
    if let Some(uart) = machine.uart {
        // SAFETY: the device tree names this PL011 as the guest's console.
        unsafe { console::use_pl011(uart) };
    }
    let options = match options::parse(machine.bootargs) {
        Ok(options) => options,
        Err(error) => fail(error.0),
    };
    if options.vsock_faults {
        if let Err(vsock::Failure(why)) = vsock::run(&machine) {
            Line::new().text("VSOCK-FAULT-FAIL ").text(why).print();
            halt();
        }
        finish(&options);
    }
    Line::new()
        .text("HOSTILE-START gic=v")
        .number(match machine.gic_version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        })
        .text(" cpus=")
        .number(machine.cpu_count)
        .text(" ram=")
        .hex(machine.ram.base)
        .text("-")
        .hex(machine.ram.end)
        .text(" ranges=")
        .number(options.range_count as u64)
        .print();

    calls::misuse(&machine);
    Line::new()
        .text("HOSTILE-STEP hypercalls tried=")
        .number(tally::tried())
        .print();
    gic::misuse(&machine);
    Line::new()
        .text("HOSTILE-STEP gic tried=")
        .number(tally::tried())
        .print();
    memory::probe(&machine, &options);
    tally::print_summary();
    finish(&options)
}

/// Powers off if the command line says so, or idles.
fn finish(options: &options::Options) -> ! {
    if options.power_off {
        hypercall::call(hypercall::PSCI_SYSTEM_OFF, [0; 6]);
        fail("PSCI SYSTEM_OFF returned");
    }
    halt()
}

/// Idles for good with interrupts masked: the test then checks that the rest of the system runs.
pub fn halt() -> ! {
    loop {
        aarch64_wfi();
    }
}

fn aarch64_wfi() {
    // SAFETY: waits for an interrupt; no memory is touched.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

fn fail(message: &str) -> ! {
    Line::new().text("HOSTILE-FAIL ").text(message).print();
    halt()
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail("panic")
}

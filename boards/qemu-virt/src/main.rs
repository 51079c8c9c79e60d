//! hyp-arm for QEMU's `virt` machine (`-M virt,virtualization=on`, GICv2 or GICv3): the console is
//! the PL011 that `/chosen/stdout-path` names, and the guest gets 1 GiB of RAM.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use hyp_arm::console::ConsoleUart;
use hyp_arm::domain::plan::*;
use hyp_arm::hypervisor::BoardConfig;
use hyp_arm::platform::Uart;
use hyp_arm_pl011::Pl011;

/// Where QEMU virt's RAM starts: with an ELF `-kernel`, QEMU leaves the device tree here.
const RAM_BASE: u64 = 0x4000_0000;

include!(concat!(env!("OUT_DIR"), "/embedded_guest.rs"));

/// TEMPORARY hand-written plan until domains.toml is generated.
static SYSTEM_PLAN: SystemPlan = SystemPlan {
    source: "boards/qemu-virt/src/main.rs",
    scheduling: Scheduling::Pinned,
    domains: &[DomainPlan {
        name: "android",
        role: Role::Rich,
        vcpu_pcpus: &[0, 1, 2, 3],
        priority: 1,
        memory: MemoryPlan {
            size: 1 << 30,
            ipa: None,
            physical: None,
        },
        kernel: KernelSource::BootModules,
        bootargs: None,
        devices: &[],
        owns_unclaimed_devices: true,
        console: DomainConsole::EmulatedUart,
        starts_after: None,
        on_system_off: SystemOffAction::PowerOffMachine,
    }],
    console: ConsolePlan {
        initial_focus: 0,
        escape: 0x1d,
    },
};

static BOARD: BoardConfig = BoardConfig {
    name: "QEMU virt",
    console: console_for,
    plan: &SYSTEM_PLAN,
    device_tree_fallback: Some(RAM_BASE),
    // QEMU's RAM is zero at power-on; restarts are always cleared.
    clear_guest_ram_at_first_boot: false,
    embedded_guest: EMBEDDED_GUEST,
    // QEMU 7.2's GICv2 loses the guest timer with hardware-bit deactivation (docs/ARCHITECTURE.md).
    gicv2_deactivate_by_maintenance: true,
};

/// The console: a PL011 driven by the hypervisor.
struct Console(Pl011);

impl ConsoleUart for Console {
    fn write_bytes(&self, bytes: &[u8]) {
        self.0.write_bytes(bytes);
    }
}

static CONSOLE: spin::Once<Console> = spin::Once::new();

fn console_for(uart: &Uart) -> Option<&'static dyn ConsoleUart> {
    if uart.compatible != "arm,pl011" {
        return None;
    }
    let console = CONSOLE.call_once(|| {
        // SAFETY: the device tree names this PL011 as the console; the hypervisor maps it as device
        // memory and only the console code drives it (the guest shares it for its own output).
        let uart = unsafe { Pl011::new(uart.base as usize) };
        uart.init();
        Console(uart)
    });
    Some(console)
}

/// Called by the entry code with the loader's x0 and the exception level we run at.
#[no_mangle]
extern "C" fn hyp_board_entry(dtb: usize, exception_level: u64) -> ! {
    hyp_arm::hypervisor::start(&BOARD, dtb, exception_level)
}

//! What a board crate tells the core: its name, its console driver and its domains.

use crate::console::ConsoleUart;
use crate::domain::plan::SystemPlan;
use crate::platform::Uart;
use crate::vdev::emulated::BoardDevice;

/// A board's wiring, handed to `hypervisor::start` by the board crate's entry point.
pub struct BoardConfig {
    /// Shown in the boot banner.
    pub name: &'static str,
    /// Builds the console driver for the UART that the device tree's `/chosen/stdout-path` names,
    /// or returns `None` when the board has no driver for that UART.
    pub console: fn(&Uart) -> Option<&'static dyn ConsoleUart>,
    /// The `compatible` strings of the UARTs `console` has a driver for (the boot check of the
    /// device tree names the console's when it is not among them).
    pub console_drivers: &'static [&'static str],
    /// Where to look for the device tree when the loader passed none in x0. QEMU does that when
    /// `-kernel` is an ELF file: it then puts the device tree at the start of RAM instead of
    /// after the (Linux-style) image, where guest-loader modules may live.
    pub device_tree_fallback: Option<u64>,
    /// Clear guest RAM before the guest's first boot, not only before restarts. Needed wherever
    /// firmware or a loader may leave data in RAM (every real board). QEMU hands over RAM
    /// zeroed, and clearing 1 GiB costs seconds under TCG, so the qemu-virt board leaves it off.
    pub clear_guest_ram_at_first_boot: bool,
    /// A guest built into the image (`cargo xtask build --embed-kernel`): used when the loader
    /// passes no `multiboot,kernel` module, which always takes precedence.
    pub embedded_guest: Option<EmbeddedGuest>,
    /// On a GICv2, deactivate the guest's hardware-mapped interrupts from the hypervisor (EOI
    /// maintenance interrupt, then GICC_DIR) instead of through the list register's hardware
    /// bit. Needed on QEMU 7.2, whose GICv2 loses a level interrupt (the guest's timer) that
    /// became pending again while active: the hardware-bit deactivation never re-signals it.
    /// Costs one more exit per such interrupt; real GIC-400s do not need it.
    pub gicv2_deactivate_by_maintenance: bool,
    /// The domains to run, generated at build time from the board's `domains.toml` (crate
    /// `hyp-arm-board-config`) and checked again at boot by `domain::ownership`.
    pub plan: &'static SystemPlan,
    /// The register models of the plan's `[[virtual_device]]`s, by name (empty for boards that
    /// emulate none). Checked at boot: a declared device without one is left out and logged.
    pub emulated_devices: &'static [BoardDevice],
}

/// A guest kernel (arm64 Image), optional initramfs and command line linked into the image.
pub struct EmbeddedGuest {
    pub kernel: &'static [u8],
    pub initrd: Option<&'static [u8]>,
    pub bootargs: &'static str,
}

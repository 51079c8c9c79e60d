//! What a board crate tells the core: its name, its console driver and how big the guest is.

use crate::console::ConsoleUart;
use crate::platform::Uart;

/// A board's wiring, handed to `hypervisor::start` by the board crate's entry point.
pub struct BoardConfig {
    /// Shown in the boot banner.
    pub name: &'static str,
    /// Builds the console driver for the UART that the device tree's `/chosen/stdout-path` names,
    /// or returns `None` when the board has no driver for that UART.
    pub console: fn(&Uart) -> Option<&'static dyn ConsoleUart>,
    /// RAM given to the guest domain, in bytes (2 MiB multiple).
    pub guest_ram_size: u64,
    /// Where to look for the device tree when the loader passed none in x0. QEMU does that when
    /// `-kernel` is an ELF file: it then puts the device tree at the start of RAM instead of
    /// after the (Linux-style) image, where guest-loader modules may live.
    pub device_tree_fallback: Option<u64>,
    /// Clear guest RAM before the guest's first boot, not only before restarts. Needed wherever
    /// firmware or a loader may leave data in RAM (every real board). QEMU hands over RAM
    /// zeroed, and clearing 1 GiB costs seconds under TCG, so the qemu-virt board leaves it off.
    pub clear_guest_ram_at_first_boot: bool,
}

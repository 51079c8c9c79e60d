//! The secure domain's firmware: a small Rust service partition at EL1 behind hyp-arm's
//! stage-2 translation. It reads its device tree, maps its RAM and devices, turns on the MMU and
//! caches, takes its own Cadence UART as its console if it has one (the ZCU102's uart1), brings
//! up its (virtual) GIC, the PL031 RTC and the virtual timer, offers the keystore
//! over its channel to hyp-arm if it has one, reports itself, tells the hypervisor it is ready,
//! and then serves the channel when its doorbell rings and prints a heartbeat every second,
//! sleeping in WFI in between.
//!
//! Entered like a Linux kernel: EL1h, MMU off, interrupts masked, x0 = device tree, loaded at
//! the base of its RAM (0x4000_0000; 0x4020_0000 for the `bare-qemu` test build).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "bare-qemu")]
mod bare_uart;
mod console;
mod entry;
mod exceptions;
mod gic;
mod gic_registers;
mod gic_spi;
mod heartbeat;
#[cfg_attr(
    feature = "bare-qemu",
    allow(
        dead_code,
        reason = "bare QEMU has no hypervisor to call; the calls stay compiled so that this build checks them too"
    )
)]
mod hypercall;
mod keystore_channel;
mod mmu;
#[cfg(not(feature = "bare-qemu"))]
mod own_uart;
mod pl031;
mod shared_memory;

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt;

use aarch64_cpu::registers::{CurrentEL, Readable};
use hyp_arm_secure_domain::clock::ticks_to_milliseconds;
use hyp_arm_secure_domain::platform::{self, AddressRange, ChannelLookup, ChannelNode, Platform};
use hyp_arm_secure_domain::translation::{MemoryKind, TranslationTables};

use crate::exceptions::park;
use crate::keystore_channel::{StartError, Unusable};
use crate::pl031::Pl031;

/// Level-2 tables: the devices' gigabyte, RAM's, and room for RAM spanning two more.
const LEVEL2_TABLES: usize = 4;
/// The device tree magic (Devicetree Specification v0.4, 5.2), big-endian.
const DEVICE_TREE_MAGIC: u32 = 0xd00d_feed;
/// The largest device tree accepted (the arm64 boot protocol's limit).
const MAX_DEVICE_TREE_SIZE: usize = 2 * 1024 * 1024;
/// Where bare QEMU leaves the device tree for an ELF it boots (x0 is then 0): the start of RAM.
#[cfg(feature = "bare-qemu")]
const BARE_QEMU_DEVICE_TREE: u64 = 0x4000_0000;

/// The identity map. Written once by `main` with the MMU off, then only read by the MMU.
static TABLES: TableStorage = TableStorage(UnsafeCell::new(TranslationTables::new()));

/// The translation tables as a `static` the program itself writes only once.
struct TableStorage(UnsafeCell<TranslationTables<LEVEL2_TABLES>>);

// SAFETY: only `build_identity_map` touches the contents, once, on the domain's only CPU,
// before interrupts are unmasked.
unsafe impl Sync for TableStorage {}

extern "C" {
    /// Ends of the image's footprint, from the linker script.
    static __image_start: u8;
    static __image_end: u8;
}

/// From the entry code, on the boot stack with .bss zeroed; `device_tree` is the loader's x0.
pub extern "C" fn main(device_tree: u64) -> ! {
    let start = heartbeat::counter();
    let exception_level = CurrentEL.read(CurrentEL::EL);
    if exception_level != 1 {
        fail(format_args!(
            "entered at EL{exception_level}; the secure domain runs at EL1"
        ));
    }
    let image = AddressRange::new(image_start(), image_end() - image_start());
    #[cfg(feature = "bare-qemu")]
    let device_tree = if device_tree == 0 {
        BARE_QEMU_DEVICE_TREE
    } else {
        device_tree
    };
    // SAFETY: the boot protocol passes the device tree in x0, in RAM the loader does not
    // change while we run; `device_tree_bytes` checks the magic before trusting the size.
    let tree = match unsafe { device_tree_bytes(device_tree) } {
        Ok(tree) => tree,
        Err(message) => fail(message),
    };
    let platform = match platform::parse(tree, image.base) {
        Ok(platform) => platform,
        Err(error) => fail(error),
    };
    let root = match build_identity_map(&platform) {
        Ok(root) => root,
        Err(error) => fail(error),
    };
    let channel = map_channel(platform.channel);
    #[cfg(not(feature = "bare-qemu"))]
    if let Some(uart) = platform.cadence_uart {
        // SAFETY: the domain's tree gives it this UART (hyp-arm maps only devices the domain
        // owns), `build_identity_map` mapped it as Device memory, and only `own_uart` drives it.
        unsafe { own_uart::adopt(uart.base) };
    }
    // SAFETY: `root` maps RAM (holding the image, its stack and the tables) as Normal memory
    // and every device used below as Device memory; the MMU is still off.
    unsafe { mmu::enable(root, image) };

    let frequency = heartbeat::frequency();
    if frequency == 0 {
        fail("CNTFRQ_EL0 is 0: the generic timer's frequency was never set");
    }
    // SAFETY: the RTC's frame from the device tree, mapped as Device memory, used only here.
    let rtc = platform
        .rtc
        .and_then(|rtc| unsafe { Pl031::probe(rtc.base) });
    publish_trusted_time(&rtc);
    // SAFETY: the GIC's frames from the device tree, mapped as Device memory; nothing else in
    // the domain programs the GIC.
    let gic = unsafe { gic::enable_private_interrupt(platform.gic, platform.virtual_timer_intid) };
    if let Err(error) = gic {
        fail(error);
    }
    say!(
        "secure-domain: up, RTC {}, GICv{}, {}, RAM {:#x}+{:#x}, timer INTID {} at {} Hz",
        Seconds(&rtc),
        platform.gic.version(),
        Hypervisor,
        platform.memory.base,
        platform.memory.size,
        platform.virtual_timer_intid,
        frequency,
    );
    // SAFETY: `map_channel` mapped a usable channel's region as shared memory, which nothing
    // else uses; the GIC is set up above.
    let mut keystore = unsafe { keystore_channel::offer(channel, platform.gic, start) };
    tell_ready();
    heartbeat::start(platform.virtual_timer_intid, frequency);

    let mut seen = 0;
    // Serve once at once: hyp-arm may have queued packets before the doorbell was enabled.
    let mut more = keystore.is_some();
    loop {
        let beats = heartbeat::wait_for_beat_or(seen, || more || keystore_channel::doorbell_rang());
        // On every wake-up, the heartbeat's included: a safety net for a lost doorbell.
        more = keystore.as_mut().is_some_and(|keystore| keystore.serve());
        if beats == seen {
            continue;
        }
        seen = beats;
        let now = heartbeat::counter();
        let uptime = ticks_to_milliseconds(now.wrapping_sub(start), frequency);
        say!(
            "secure-domain: heartbeat {seen} uptime {uptime} ms rtc {}",
            Seconds(&rtc)
        );
        if let Some(keystore) = keystore.as_mut() {
            keystore.on_heartbeat(now);
        }
        let others = heartbeat::other_interrupts();
        if seen % 10 == 0 && others > 0 {
            say!("secure-domain: {others} interrupts other than the timer's and the doorbell's so far");
        }
    }
}

/// Maps the domain's RAM as Normal memory and its devices as Device memory; returns the root.
fn build_identity_map(
    platform: &Platform,
) -> Result<u64, hyp_arm_secure_domain::translation::MapError> {
    // SAFETY: `main` runs once, on the only CPU, before anything else uses the tables.
    let tables = unsafe { &mut *TABLES.0.get() };
    tables.map(platform.memory, MemoryKind::Normal)?;
    for region in platform.gic.regions() {
        tables.map(region, MemoryKind::Device)?;
    }
    if let Some(rtc) = platform.rtc {
        tables.map(rtc, MemoryKind::Device)?;
    }
    if let Some(uart) = platform.cadence_uart {
        tables.map(uart, MemoryKind::Device)?;
    }
    #[cfg(feature = "bare-qemu")]
    tables.map(
        AddressRange::new(bare_uart::BASE, bare_uart::SIZE),
        MemoryKind::Device,
    )?;
    Ok(tables.root_address())
}

/// Maps a usable channel's ring region as shared memory (before the MMU is on); `None` when the
/// tree has no channel.
fn map_channel(channel: ChannelLookup) -> Option<Result<ChannelNode, StartError>> {
    match channel {
        ChannelLookup::Absent => None,
        ChannelLookup::Unusable { index, error } => Some(Err(StartError {
            index,
            reason: Unusable::Node(error),
        })),
        ChannelLookup::Found(node) => {
            // SAFETY: `main` runs once, on the only CPU, before the MMU uses the tables.
            let tables = unsafe { &mut *TABLES.0.get() };
            Some(
                tables
                    .map(node.region, MemoryKind::Shared)
                    .map(|()| node)
                    .map_err(|error| StartError {
                        index: node.index,
                        reason: Unusable::Map(error),
                    }),
            )
        }
    }
}

/// TRUSTED_TIME_SET with the RTC's time, so the clocks hyp-arm emulates for other domains (the
/// goldfish RTC) read UNIX time; before `tell_ready`, so domains that start after this one see
/// it from their first read. A refusal is logged and the domain carries on: those clocks then
/// keep counting from power-on.
#[cfg(not(feature = "bare-qemu"))]
fn publish_trusted_time(rtc: &Option<Pl031>) {
    let Some(rtc) = rtc else {
        say!("secure-domain: no RTC, trusted time not published");
        return;
    };
    let seconds = rtc.seconds();
    let unix_nanoseconds = hyp_arm_secure_domain::clock::rtc_seconds_to_unix_nanoseconds(seconds);
    match hypercall::trusted_time_set(unix_nanoseconds) {
        0 => say!("secure-domain: trusted time published {seconds}"),
        status => say!(
            "secure-domain: trusted time {seconds} not published: TRUSTED_TIME_SET returned {status}"
        ),
    }
}

/// Bare QEMU has no hypervisor to publish the time to.
#[cfg(feature = "bare-qemu")]
fn publish_trusted_time(_rtc: &Option<Pl031>) {}

/// DOMAIN_READY: domains that wait for this one may start.
#[cfg(not(feature = "bare-qemu"))]
fn tell_ready() {
    let status = hypercall::domain_ready();
    if status != 0 {
        say!("secure-domain: DOMAIN_READY returned {status}");
    }
}

/// Bare QEMU has no hypervisor to tell (and no EL2 to take the HVC).
#[cfg(feature = "bare-qemu")]
fn tell_ready() {}

/// The device tree at `address`, after checking its magic.
///
/// # Safety
///
/// `address` must be readable for 8 bytes; if they start with the device-tree magic, for the
/// size the header gives, unchanged for the rest of the program.
unsafe fn device_tree_bytes(address: u64) -> Result<&'static [u8], &'static str> {
    if address == 0 || !address.is_multiple_of(8) {
        return Err("x0 is not the 8-byte aligned address of a device tree");
    }
    let header = address as usize as *const u32;
    // SAFETY: the caller guarantees 8 readable bytes; the address is aligned.
    let (magic, size) = unsafe { (header.read_volatile(), header.add(1).read_volatile()) };
    if u32::from_be(magic) != DEVICE_TREE_MAGIC {
        return Err("x0 does not point to a device tree (bad magic)");
    }
    let size = u32::from_be(size) as usize;
    if size > MAX_DEVICE_TREE_SIZE {
        return Err("the device tree's header gives a size above 2 MiB");
    }
    // SAFETY: a device tree of `size` bytes, as its header says, which the caller guarantees
    // readable and unchanging.
    Ok(unsafe { core::slice::from_raw_parts(address as usize as *const u8, size) })
}

fn image_start() -> u64 {
    (&raw const __image_start) as u64
}

fn image_end() -> u64 {
    (&raw const __image_end) as u64
}

/// Prints why the domain cannot run and parks it.
fn fail(reason: impl fmt::Display) -> ! {
    say!("secure-domain: cannot start: {reason}; parked");
    park()
}

/// RTC seconds, or "none" when the domain has no (working) PL031.
struct Seconds<'a>(&'a Option<Pl031>);

impl fmt::Display for Seconds<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(rtc) => write!(formatter, "{}", rtc.seconds()),
            None => formatter.write_str("none"),
        }
    }
}

/// hyp-arm's interface version, asked by hypercall.
struct Hypervisor;

impl fmt::Display for Hypervisor {
    #[cfg(not(feature = "bare-qemu"))]
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = hypercall::hyp_version();
        if version < 0 {
            write!(formatter, "hypervisor interface unknown ({version})")
        } else {
            write!(
                formatter,
                "hyp-arm interface {}.{}",
                version >> 16,
                version & 0xffff
            )
        }
    }

    #[cfg(feature = "bare-qemu")]
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("bare QEMU, no hypervisor")
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: masks interrupts so the handler's output is not interleaved with a heartbeat; no
    // memory is touched.
    unsafe { asm!("msr daifset, #0xf", options(nomem, nostack)) };
    say!("secure-domain: panic: {info}; parked");
    park()
}

//! Bring-up, read top to bottom: device tree, console, EL2 MMU, GIC, the domains of the board's
//! plan, the secondary CPUs, then each CPU's first vCPU.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch::entry::{self, MAX_PHYSICAL_CPUS};
use crate::arch::mmu::{self, El2Translation};
use crate::arch::{cpu, smc, spin_table};
use crate::console::Shown;
use crate::hyp_log;
use crate::mm::page_table::{
    Access, Geometry, MemoryKind, Regime, TablePool, TranslationTable, ENTRIES_PER_TABLE, PAGE_SIZE,
};
use crate::platform::secondary::{self, SecondaryStart, StartMethod};
use crate::platform::{
    Capabilities, GicRegions, GicVersion, MemoryRange, NodePath, Platform, Uart,
};
use crate::trap::smccc::function;

use super::board::BoardConfig;
use super::domain::{self, Domain};
use super::gic::PhysicalGic;
use super::{scheduler, stop_this_cpu};
use crate::domain::plan::MAX_DOMAINS;

/// Everything the CPUs share once the primary has booted.
pub(super) struct Machine {
    pub platform: Platform<'static>,
    /// MPIDR affinity of each logical CPU; logical CPU 0 is the boot CPU.
    pub cpu_affinities: heapless::Vec<u64, MAX_PHYSICAL_CPUS>,
    pub gic: PhysicalGic,
    pub el2_translation: El2Translation,
    /// The domains that passed the boot-time checks, by plan index order.
    pub domains: heapless::Vec<Domain, MAX_DOMAINS>,
    /// The console UART's interrupt, when some domain takes console input.
    pub console_input_intid: Option<u32>,
    /// Channels between the domains.
    pub channels:
        heapless::Vec<super::channels::ChannelRuntime, { crate::domain::plan::MAX_CHANNELS }>,
}

static MACHINE: spin::Once<Machine> = spin::Once::new();
/// Secondary CPUs that finished their set-up.
static SECONDARIES_READY: AtomicUsize = AtomicUsize::new(0);

/// The shared machine description; only called after boot finished building it.
pub(super) fn machine() -> &'static Machine {
    match MACHINE.get() {
        Some(machine) => machine,
        None => panic!("machine used before the boot CPU finished building it"),
    }
}

/// The shared machine description, if boot got that far (for the panic path).
pub(super) fn try_machine() -> Option<&'static Machine> {
    MACHINE.get()
}

/// Tables for the EL2 map and the guests' stage-2 maps (1 MiB; identity-mapped, so the address
/// of a table is what the walker uses).
#[repr(C, align(4096))]
struct TableMemory([[u64; ENTRIES_PER_TABLE]; 256]);
static mut TABLE_MEMORY: TableMemory = TableMemory([[0; ENTRIES_PER_TABLE]; 256]);

/// The translation table pool, handed out once.
fn table_pool() -> TablePool<'static> {
    static TAKEN: spin::Once<()> = spin::Once::new();
    assert!(!TAKEN.is_completed(), "translation table pool taken twice");
    TAKEN.call_once(|| ());
    // SAFETY: the `TAKEN` guard above makes this the only reference ever created to the pool.
    let tables = unsafe { &mut (*core::ptr::addr_of_mut!(TABLE_MEMORY)).0 };
    let base = tables.as_ptr() as u64;
    TablePool::new(tables, base)
}

/// The primary CPU's boot, called by the board crate's entry point with what the loader passed.
pub fn start(board: &'static BoardConfig, loader_dtb: usize, entered_at_el: u64) -> ! {
    // 1. Device tree and console.
    let dtb_address = if loader_dtb != 0 {
        loader_dtb as u64
    } else {
        board.device_tree_fallback.unwrap_or(0)
    };
    let Some(dtb) = device_tree_blob(dtb_address) else {
        // Without a device tree there is no console to report on.
        stop_this_cpu();
    };
    let parsed = Platform::parse(dtb);
    match &parsed {
        Ok(platform) => open_console(board, platform.console.as_ref()),
        Err(_) => open_console_from_raw_tree(board, dtb),
    }
    // The exception level first: entered below EL2, the tree also lacks the GIC's
    // virtualization interface, but the exception level is what the user must fix.
    if entered_at_el != 2 {
        hyp_log!(
            "hyp-arm must be entered at EL2 (with the virtualization extensions), but the loader \
             entered it at EL{}. On QEMU use -M virt,virtualization=on. Stopping.",
            entered_at_el
        );
        stop_this_cpu();
    }
    let platform = match parsed {
        Ok(platform) => platform,
        Err(error) => {
            hyp_log!(
                "hyp-arm: cannot use the device tree at {:#x}: {}",
                dtb_address,
                Shown(&error)
            );
            stop_this_cpu();
        }
    };
    cpu::install_vectors();
    cpu::set_cpu_index(0);
    hyp_log!(
        "hyp-arm {} on {}: {} CPUs, {}, device tree at {:#x}",
        env!("CARGO_PKG_VERSION"),
        board.name,
        platform.cpus.len(),
        match platform.gic.version() {
            GicVersion::V2 => "GICv2",
            GicVersion::V3 => "GICv3",
        },
        dtb_address
    );

    // What the tree describes that hyp-arm cannot use yet (docs/BOARDS.md): said up front, so
    // that what fails later has its reason on the console.
    let capabilities = Capabilities {
        console_drivers: board.console_drivers,
    };
    match platform.limitations(&capabilities) {
        Ok(limitations) => {
            for limitation in &limitations {
                hyp_log!("device tree: not supported: {}", Shown(limitation));
            }
        }
        Err(error) => hyp_log!("device tree: cannot check it: {}", Shown(&error)),
    }

    // 2. Logical CPU numbering: the boot CPU is 0, the others follow in device-tree order.
    let boot_affinity = cpu::mpidr_affinity();
    let mut cpu_affinities = heapless::Vec::<u64, MAX_PHYSICAL_CPUS>::new();
    let _ = cpu_affinities.push(boot_affinity);
    for physical in platform.cpus.iter().filter(|c| c.mpidr != boot_affinity) {
        if cpu_affinities.push(physical.mpidr).is_err() {
            hyp_log!(
                "more than {} CPUs: CPU {:#x} stays off",
                MAX_PHYSICAL_CPUS,
                physical.mpidr
            );
        }
    }

    // 3. The EL2 identity map: RAM normal, the GIC and the console as devices.
    let mut tables = table_pool();
    let el2_translation = match build_el2_map(&platform, &mut tables) {
        Ok(translation) => translation,
        Err(error) => fatal(format_args!("cannot build the EL2 map: {error}")),
    };
    // Secondary CPUs read the translation registers with their MMU (and caches) still off.
    mmu::enable(&el2_translation);

    // 4. The physical GIC.
    // SAFETY: the GIC's registers are mapped as device memory by the EL2 map built above, and
    // nothing else drives the physical GIC.
    let gic = match unsafe { PhysicalGic::new(&platform.gic) } {
        Ok(gic) => gic,
        Err(error) => fatal(format_args!("cannot use the GIC: {error}")),
    };
    if let Err(error) = gic.init_this_cpu(boot_affinity) {
        fatal(format_args!("cannot set up the GIC: {error}"));
    }

    enable_timer_interrupts(&gic, &platform);

    // 5. The domains: RAM, stage-2, device tree, images, each checked against this machine.
    let names: heapless::Vec<&'static str, MAX_DOMAINS> = board
        .plan
        .domains
        .iter()
        .take(MAX_DOMAINS)
        .map(|domain| domain.name)
        .collect();
    if let Err(error) = crate::console::set_domain_names(&names) {
        hyp_log!("console: domain names not set: {}", Shown(&error));
    }
    hyp_log!(
        "plan {}: {} domains, {} scheduling",
        board.plan.source,
        board.plan.domains.len(),
        match board.plan.scheduling {
            crate::domain::plan::Scheduling::Pinned => "pinned",
            crate::domain::plan::Scheduling::Shared => "shared",
        }
    );
    super::board_devices::init(board);
    let inputs = domain::Inputs {
        board,
        platform: &platform,
        gic: &gic,
        host_dtb: MemoryRange::new(dtb_address, dtb.len() as u64),
        physical_cpus: cpu_affinities.len(),
    };
    let (domains, channel_regions) = domain::create_domains(&inputs, &mut tables);
    if domains.is_empty() {
        fatal(format_args!("no domain could be created"));
    }

    let console_input_intid = enable_console_input(board, &gic, &platform);
    let channels =
        super::channels::create_channels(board.plan.channels, &domains, &channel_regions);
    let machine = MACHINE.call_once(|| Machine {
        platform,
        cpu_affinities,
        gic,
        el2_translation,
        domains,
        console_input_intid,
        channels,
    });
    let translation = &machine.el2_translation;
    cpu::clean_to_point_of_coherency(
        translation as *const _ as usize,
        core::mem::size_of::<El2Translation>(),
    );
    scheduler::configure_this_cpu(0);

    // 6. Secondary CPUs: PSCI CPU_ON, or released from the firmware's spin table.
    start_secondaries(machine);

    // 7. Each domain's images, then the domains that wait for nobody.
    for domain in &machine.domains {
        domain.load_images(board.clear_guest_ram_at_first_boot);
    }
    for domain in &machine.domains {
        domain.start_at_boot();
    }
    scheduler::idle()
}

/// Console input by interrupt, when a domain takes it: the UART's receive interrupt, its SPI at
/// the hypervisor's priority on the boot CPU. Returns that SPI.
fn enable_console_input(
    board: &BoardConfig,
    gic: &PhysicalGic,
    platform: &Platform,
) -> Option<u32> {
    if !super::virtual_uart::init_input(board.plan) {
        return None;
    }
    let path = platform.console.as_ref()?.path.as_str();
    let device = platform.device(path)?.ok()?;
    let intid = *device.spis.first()?;
    let front_end = gic.this_cpu();
    let spi = hyp_arm_gic::IntId::new(intid)?;
    let _ = front_end.set_priority(spi, 0x40);
    if let Some(target) = gic.target_of(0) {
        let _ = front_end.route(spi, target);
    }
    let _ = front_end.enable(spi);
    crate::console::enable_input_interrupts();
    Some(intid)
}

/// The EL2 timer (the scheduler's wake-up) at the hypervisor's priority, and the virtual timer
/// at a guest priority: both stay enabled for good on every CPU (the virtual timer is the
/// loaded vCPU's; its enable and mask are the vCPU's own CNTV_CTL and virtual GIC state).
fn enable_timer_interrupts(gic: &PhysicalGic, platform: &Platform) {
    let front_end = gic.this_cpu();
    for (intid, priority) in [
        (platform.timer.hyp_phys, 0x40),
        (platform.timer.virtual_timer, 0xa0),
    ] {
        if let Some(intid) = hyp_arm_gic::IntId::new(intid) {
            let _ = front_end.set_priority(intid, priority);
            let _ = front_end.enable(intid);
        }
    }
}

/// The entry of each secondary CPU, with its logical index.
#[no_mangle]
extern "C" fn hyp_secondary_main(index: usize) -> ! {
    let machine = machine();
    cpu::install_vectors();
    cpu::set_cpu_index(index);
    mmu::enable(&machine.el2_translation);
    if let Err(error) = machine.gic.init_this_cpu(machine.cpu_affinities[index]) {
        hyp_log!(
            "CPU {}: cannot set up its GIC interface: {}; it stays idle",
            index,
            Shown(&error)
        );
        super::stop_this_cpu();
    }
    enable_timer_interrupts(&machine.gic, &machine.platform);
    scheduler::configure_this_cpu(index);
    SECONDARIES_READY.fetch_add(1, Ordering::Release);
    scheduler::idle()
}

/// Starts every other CPU the way its device-tree node says (platform::secondary decides and
/// checks; a CPU that cannot be started is reported and stays off).
fn start_secondaries(machine: &Machine) {
    let wanted = machine.cpu_affinities.len() - 1;
    if wanted == 0 {
        return;
    }
    // Secondaries read MACHINE (to find their translation) before their MMU and caches are on.
    cpu::clean_to_point_of_coherency(
        core::ptr::addr_of!(MACHINE) as usize,
        core::mem::size_of_val(&MACHINE),
    );
    spin_table::publish_cpu_affinities(&machine.cpu_affinities);
    let platform = &machine.platform;
    let starts = secondary::plan_secondaries(
        &platform.cpus,
        &machine.cpu_affinities,
        &platform.memory,
        &platform.reserved,
        platform.psci,
    );
    let mut started = 0;
    for start in starts {
        match start {
            Ok(start) => started += usize::from(start_secondary(&start)),
            Err(error) => hyp_log!("{}: it stays off", Shown(&error)),
        }
    }
    // Bounded wait: a CPU that never arrives is reported, not waited for forever.
    for _ in 0..10_000_000u32 {
        if SECONDARIES_READY.load(Ordering::Acquire) >= started {
            break;
        }
        core::hint::spin_loop();
    }
    let ready = SECONDARIES_READY.load(Ordering::Acquire);
    hyp_log!("{} of {} secondary CPUs up", ready, wanted);
}

/// Starts one CPU; whether it was asked to (it reports in through SECONDARIES_READY).
fn start_secondary(start: &SecondaryStart) -> bool {
    match start.method {
        StartMethod::Psci => {
            let entry_point = entry::hyp_secondary_entry as *const () as u64;
            let index = start.index as u64;
            let result = smc::call(function::CPU_ON_64, start.mpidr, entry_point, index);
            if result != 0 {
                hyp_log!(
                    "PSCI CPU_ON for CPU {:#x} failed with {}",
                    start.mpidr,
                    result as i64
                );
            }
            result == 0
        }
        StartMethod::SpinTable { release_address } => {
            // SAFETY: plan_secondaries checked that the release word is 8-byte aligned, in RAM
            // (which the EL2 map covers, identity-mapped normal memory) and inside a reserved
            // range, which hyp-arm never carves for a guest nor uses itself; the affinities were
            // published above.
            unsafe { spin_table::release(release_address) };
            true
        }
    }
}

fn build_el2_map(
    platform: &Platform,
    tables: &mut TablePool,
) -> Result<El2Translation, crate::mm::page_table::MapError> {
    let geometry = Geometry::stage1(cpu::physical_address_bits().min(48))?;
    let mut map = TranslationTable::new(Regime::El2Stage1, geometry, tables)?;
    for range in &platform.memory {
        let (base, size) = page_round(range);
        map.map_identity(base, size, MemoryKind::Normal, Access::ReadWrite, tables)?;
    }
    let mut devices = heapless::Vec::<MemoryRange, 12>::new();
    match &platform.gic.regions {
        GicRegions::V2 {
            distributor,
            cpu_interface,
            hyp_interface,
            ..
        } => {
            let _ = devices.extend_from_slice(&[*distributor, *cpu_interface, *hyp_interface]);
        }
        GicRegions::V3 {
            distributor,
            redistributors,
            ..
        } => {
            let _ = devices.push(*distributor);
            let _ = devices.extend_from_slice(redistributors);
        }
    }
    if let Some(uart) = platform.console.as_ref() {
        let _ = devices.push(MemoryRange::new(uart.base, uart.size));
    }
    for device in &devices {
        let (base, size) = page_round(device);
        map.map_identity(base, size, MemoryKind::Device, Access::ReadWrite, tables)?;
    }
    Ok(El2Translation::new(map.root_address(), geometry))
}

/// A range grown outwards to whole pages.
pub(super) fn page_round(range: &MemoryRange) -> (u64, u64) {
    let base = range.base & !(PAGE_SIZE - 1);
    let end = (range.end() + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    (base, end - base)
}

/// The device tree blob at `address`, if a valid FDT header is there.
fn device_tree_blob(address: u64) -> Option<&'static [u8]> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the loader put a device tree at `address` (booting.rst); only the 40-byte header is
    // read before its own total size is known, and RAM is readable with the MMU off.
    let header = unsafe {
        core::slice::from_raw_parts(address as *const u8, crate::platform::blob::HEADER_SIZE)
    };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let total_size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if magic != crate::platform::blob::FDT_MAGIC || total_size > 2 * 1024 * 1024 {
        return None;
    }
    // SAFETY: as above, now for the size the header states (bounded to 2 MiB). The loader handed
    // the blob over: nothing else reads or writes it while NOPs are removed in place, and it
    // stays untouched afterwards for the hypervisor's lifetime (it is excluded from guest RAM).
    let blob = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, total_size) };
    // Loaders NOP out what they delete (QEMU: the memory nodes it replaces); `fdt` mis-parses
    // NOPs, so they go before anything reads the tree.
    crate::platform::blob::remove_nops(blob);
    Some(blob)
}

/// Opens the console on the UART the device tree names, if the board has a driver for it.
fn open_console(board: &BoardConfig, uart: Option<&Uart>) {
    if let Some(console) = uart.and_then(board.console) {
        crate::console::set_console(console);
    }
}

/// Tries to find the console in a tree the platform parser rejected, to say why.
fn open_console_from_raw_tree(board: &BoardConfig, dtb: &'static [u8]) {
    let Ok(tree) = fdt::Fdt::new(dtb) else { return };
    // `Fdt::chosen` panics without a /chosen node (as it finds none in a tree it mis-parses).
    if tree.find_node("/chosen").is_none() {
        return;
    }
    let Some(node) = tree.chosen().stdout() else {
        return;
    };
    let Some(region) = node.reg().and_then(|mut regions| regions.next()) else {
        return;
    };
    let uart = Uart {
        path: NodePath::new(),
        compatible: node.compatible().map(|c| c.first()).unwrap_or(""),
        base: region.starting_address as u64,
        size: region.size.unwrap_or(0x1000) as u64,
        options: None,
    };
    open_console(board, Some(&uart));
}

/// A boot-time error the hypervisor cannot continue from: say it and stop.
pub(super) fn fatal(message: core::fmt::Arguments) -> ! {
    hyp_log!("hyp-arm: {}; stopping", Shown(&message));
    stop_this_cpu()
}

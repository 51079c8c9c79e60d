//! The system plan: which domains run, on which physical CPUs, with what memory, images, devices
//! and console. A board's `domains.toml` is parsed and validated on the host at build time (crate
//! `hyp-arm-board-config`), which generates a `static` [`SystemPlan`]; nothing parses TOML at boot.
//! At boot the plan is checked again against the real device tree (`domain::ownership`).

/// The most domains one system runs.
pub const MAX_DOMAINS: usize = 4;
/// The most vCPUs one domain has.
pub const MAX_VCPUS_PER_DOMAIN: usize = 8;

/// The whole system, as the board declared it.
#[derive(Debug)]
pub struct SystemPlan {
    /// The file the plan came from (`boards/qemu-virt/domains.toml`), for messages.
    pub source: &'static str,
    /// How vCPUs share physical CPUs.
    pub scheduling: Scheduling,
    /// The domains, in start order (a domain may wait for an earlier one: `starts_after`).
    pub domains: &'static [DomainPlan],
    /// The console: which domain has input first and the escape byte that switches focus.
    pub console: ConsolePlan,
    /// Channels between domains.
    pub channels: &'static [ChannelPlan],
    /// Devices the board emulates for a domain (`[[virtual_device]]`), by name; the board crate
    /// supplies each one's register model (`BoardConfig::emulated_devices`).
    pub virtual_devices: &'static [VirtualDevicePlan],
}

/// The most board-emulated devices one system has.
pub const MAX_VIRTUAL_DEVICES: usize = 8;

/// A device hyp-arm emulates for one domain with a register model the board supplies (a
/// goldfish battery, keypad, RTC or TTY on the goldfish board): its window stays unmapped in
/// the domain's stage 2, every access traps and goes to the model, and its interrupt is a
/// virtual SPI. The guest's device tree gets a node with `compatible`, `reg` and `interrupts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualDevicePlan {
    /// The name the board's implementation is registered under (`battery`).
    pub name: &'static str,
    /// The domain that sees it.
    pub domain: &'static str,
    /// The device tree `compatible` its guest driver matches (`google,goldfish-battery`).
    pub compatible: &'static str,
    /// Guest-physical base of its register window (page aligned).
    pub address: u64,
    /// Bytes of the window (a 4 KiB multiple).
    pub size: u64,
    /// The SPI it raises in the domain (INTID, virtual).
    pub interrupt: u32,
}

/// The most channels one system has.
pub const MAX_CHANNELS: usize = 4;

/// A channel between two domains (docs/CHANNELS.md): the frontend sees a virtio-mmio vsock device
/// that hyp-arm emulates; the backend maps a shared-memory ring that only it and hyp-arm see, and
/// hyp-arm moves packets between the two, checking every descriptor against the frontend's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelPlan {
    pub name: &'static str,
    /// The domain with the virtio-vsock device (android).
    pub frontend: &'static str,
    /// The domain with the ring (the secure domain).
    pub backend: &'static str,
    /// Where the virtio-mmio register frame (0x200 bytes) is in the frontend.
    pub frontend_address: u64,
    /// The device's interrupt in the frontend (an SPI's INTID, virtual).
    pub frontend_interrupt: u32,
    /// Where the ring region is in the backend.
    pub backend_address: u64,
    /// The backend's doorbell interrupt (an SPI's INTID, virtual).
    pub backend_interrupt: u32,
    /// Bytes of the ring region (a 4 KiB multiple).
    pub size: u64,
    /// The frontend's vsock CID (its device's `guest_cid`).
    pub frontend_cid: u64,
    /// The backend's vsock CID: the only address the frontend can reach.
    pub backend_cid: u64,
}

/// How vCPUs are placed on physical CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// Every vCPU has a physical CPU of its own; no scheduler runs.
    Pinned,
    /// Several vCPUs may share a physical CPU: the highest-priority runnable one runs, a vCPU that
    /// waits (WFI) with nothing pending yields it.
    Shared,
}

/// What a domain is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The trusted service partition: memory no other domain can reach.
    Secure,
    /// The rich OS (the Android-style Linux guest).
    Rich,
    /// A domain that owns a device and serves it to others.
    Driver,
}

/// One domain.
#[derive(Debug)]
pub struct DomainPlan {
    /// Short name; also the tag of its console lines (`[secure]`, `[android]`).
    pub name: &'static str,
    pub role: Role,
    /// The physical CPU each vCPU runs on, by vCPU index (vCPU i has MPIDR Aff0 = i).
    pub vcpu_pcpus: &'static [usize],
    /// vCPUs whose physical CPU this machine lacks are left out (vCPU 0's must exist) instead
    /// of refusing the domain: the same plan then boots on `-smp 1` and `-smp 4`.
    pub optional_vcpus: bool,
    /// Scheduling priority on a shared physical CPU: higher preempts lower.
    pub priority: u8,
    pub memory: MemoryPlan,
    pub kernel: KernelSource,
    /// Kernel command line; `None` takes the boot module's, then the host's `/chosen/bootargs`.
    pub bootargs: Option<&'static str>,
    /// Devices this domain owns, besides the unclaimed ones if `owns_unclaimed_devices`.
    pub devices: &'static [DeviceMatch],
    /// Owns every device no domain claims by path or compatible (one domain at most).
    pub owns_unclaimed_devices: bool,
    pub console: DomainConsole,
    /// Started only once this (earlier) domain reported ready (hypercall `DOMAIN_READY`).
    pub starts_after: Option<&'static str>,
    /// What the domain's PSCI SYSTEM_OFF does.
    pub on_system_off: SystemOffAction,
}

/// Where a domain's RAM is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Bytes (a 2 MiB multiple).
    pub size: u64,
    /// Guest-physical base; `None` maps RAM at the host physical address it is carved from
    /// (IPA = PA, so the domain's devices can DMA into it without an IOMMU).
    pub ipa: Option<u64>,
    /// Host physical base; `None` carves it from the top of free host RAM.
    pub physical: Option<u64>,
}

/// Where a domain's kernel (and initramfs) come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelSource {
    /// Linked into the hypervisor image at build time.
    Embedded {
        kernel: &'static [u8],
        initrd: Option<&'static [u8]>,
    },
    /// The loader's `/chosen` `multiboot,kernel` / `multiboot,ramdisk` modules (QEMU's
    /// `-device guest-loader`, U-Boot scripts); at most one domain takes them.
    BootModules,
}

/// A device a domain claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceMatch {
    /// The node at this full path (`/pl031@9010000`).
    Path(&'static str),
    /// Every enabled device node whose `compatible` list contains this string.
    Compatible(&'static str),
}

/// How a domain writes to (and reads from) the shared console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainConsole {
    /// An emulated UART of the console's model at the console's address and interrupt; the
    /// domain must own the console device. Its lines are tagged and its input is the focused
    /// input.
    EmulatedUart,
    /// Only the `CONSOLE_WRITE` hypercall (a firmware without a UART driver).
    Hypercall,
}

/// What PSCI SYSTEM_OFF from a domain does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemOffAction {
    /// Power the whole machine off.
    PowerOffMachine,
    /// Stop only this domain; the others keep running.
    StopDomain,
}

/// The shared console's input focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsolePlan {
    /// Index into `domains` of the domain that has input at boot.
    pub initial_focus: usize,
    /// The byte that starts an escape sequence (Ctrl-] = 0x1d; Ctrl-A is QEMU's own): the escape byte then `n` moves
    /// focus to the next domain with an emulated UART; the escape byte twice sends it once.
    pub escape: u8,
}

impl DomainPlan {
    /// The vCPUs this domain gets on a machine with `cpu_count` physical CPUs: all of them, or
    /// with `optional_vcpus` those before the first whose CPU is missing.
    pub fn vcpu_count_on(&self, cpu_count: usize) -> usize {
        if !self.optional_vcpus {
            return self.vcpu_pcpus.len();
        }
        self.vcpu_pcpus
            .iter()
            .position(|&pcpu| pcpu >= cpu_count)
            .unwrap_or(self.vcpu_pcpus.len())
            .max(1)
    }
}

impl SystemPlan {
    /// The index of the domain named `name`.
    pub fn domain_index(&self, name: &str) -> Option<usize> {
        self.domains.iter().position(|domain| domain.name == name)
    }
}

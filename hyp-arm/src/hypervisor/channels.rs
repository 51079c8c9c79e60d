//! Channels at run time (docs/CHANNELS.md): the frontend's virtio-vsock device, emulated on its
//! trapped accesses, and the packets hyp-arm moves between the frontend's virtqueues and the
//! backend's ring, with the doorbells both ways. The logic is the pure `channel` module; this
//! file gives it the memory (the frontend's RAM, the ring) and the interrupts.

use core::sync::atomic::{fence, AtomicBool, Ordering};

use hyp_arm_channel_ring::{Channel, SharedMemory, Side};

use crate::arch::GuestRegisters;
use crate::channel::guest_memory::{
    GuestAddress, GuestMemory, GuestMemoryError, GuestRam, GuestRamRange,
};
use crate::channel::vsock::{MoveEffects, VsockError, VsockTransport};
use crate::console::Shown;
use crate::domain::plan::{ChannelPlan, MAX_CHANNELS};
use crate::hyp_log;
use crate::platform::MemoryRange;
use crate::sync::Mutex;
use crate::trap::exit::{load_value, DataAbort};

use super::boot::machine;
use super::domain::{ChannelRegions, Domain};
use super::exits::log_fault;
use super::{injection, interrupts};

/// The frontend's virtio-mmio register frame.
const FRAME_SIZE: u64 = 0x200;

/// One channel joining two running domains.
pub struct ChannelRuntime {
    pub plan: &'static ChannelPlan,
    /// Positions in the machine's domain list.
    pub frontend: usize,
    pub backend: usize,
    ring: RingMemory,
    transport: Mutex<VsockTransport>,
    /// The frontend's interrupt line, to inject on a rise.
    frontend_level: AtomicBool,
}

/// Sets up every channel whose two domains are running and whose ring was carved: the ring's
/// header, and the device's state. Channels that cannot work are logged and left out.
pub fn create_channels(
    plans: &'static [ChannelPlan],
    domains: &[Domain],
    regions: &ChannelRegions,
) -> heapless::Vec<ChannelRuntime, MAX_CHANNELS> {
    let mut channels = heapless::Vec::new();
    for (plan, region) in plans.iter().zip(regions) {
        let position = |name: &str| domains.iter().position(|domain| domain.name() == name);
        let (Some(frontend), Some(backend), Some(region)) =
            (position(plan.frontend), position(plan.backend), region)
        else {
            hyp_log!(
                "channel {}: not set up (a domain or its ring is missing)",
                plan.name
            );
            continue;
        };
        let ring = RingMemory { region: *region };
        let created = Channel::initialize(&ring, hyp_arm_channel_ring::MAX_MESSAGE)
            .and_then(|channel| channel.endpoints(Side::Hypervisor, &ring));
        match created {
            Ok((to_backend, from_backend)) => {
                let transport = VsockTransport::new(
                    plan.frontend_cid,
                    plan.backend_cid,
                    to_backend,
                    from_backend,
                );
                hyp_log!(
                    "channel {}: {} virtio-vsock at {:#x} (CID {}), {} ring at {:#x} (CID {})",
                    plan.name,
                    plan.frontend,
                    plan.frontend_address,
                    plan.frontend_cid,
                    plan.backend,
                    plan.backend_address,
                    plan.backend_cid
                );
                let _ = channels.push(ChannelRuntime {
                    plan,
                    frontend,
                    backend,
                    ring,
                    transport: Mutex::new(transport),
                    frontend_level: AtomicBool::new(false),
                });
            }
            Err(error) => hyp_log!("channel {}: ring not set up: {}", plan.name, Shown(&error)),
        }
    }
    channels
}

/// Serves a trapped access to a channel's virtio-mmio frame in `domain`. Returns false when the
/// access is to no such frame.
pub fn emulate_access(
    domain: &Domain,
    vcpu: usize,
    registers: &mut GuestRegisters,
    abort: &DataAbort,
    instruction_length: u64,
) -> bool {
    let machine = machine();
    let Some(channel) = machine.channels.iter().find(|channel| {
        channel.frontend == domain.index
            && MemoryRange::new(channel.plan.frontend_address, FRAME_SIZE).contains(abort.ipa)
    }) else {
        return false;
    };
    let Some(access) = abort.access else {
        return false;
    };
    let offset = abort.ipa - channel.plan.frontend_address;
    let guest = DomainMemory::new(domain);
    let mut transport = channel.transport.lock();
    let result = if access.is_write {
        transport
            .mmio_write(offset, access.width, registers.get(access.register))
            .map(|effects| {
                if let Some((queue, error)) = effects.queue_error {
                    log_fault(
                        domain,
                        format_args!(
                            "vCPU {vcpu}: virtio-vsock queue {queue} refused: {error}; the device needs a reset"
                        ),
                    );
                }
                let moved = if effects.reset {
                    channel.frontend_level.store(false, Ordering::Release);
                    Some(reset_notice(&mut transport, channel))
                } else {
                    effects
                        .notified_queue
                        .map(|queue| transport.on_notify(queue, &guest, &channel.ring))
                };
                (effects.interrupt, moved)
            })
    } else {
        transport.mmio_read(offset, access.width).map(|value| {
            registers.set(access.register, load_value(&access, value));
            (transport.device().interrupt_level(), None)
        })
    };
    // The interrupt line is settled before the lock goes (see `set_frontend_interrupt`).
    match result {
        Ok((level, moved)) => {
            registers.elr += instruction_length;
            match moved {
                Some(moved) => after_move(channel, &transport, moved),
                None => set_frontend_interrupt(channel, &transport, level),
            }
        }
        Err(error) => {
            drop(transport);
            log_fault(
                domain,
                format_args!("vCPU {vcpu}: virtio-vsock register access refused: {error}"),
            );
            injection::inject_data_abort(registers, abort.virtual_address, abort.is_write);
        }
    }
    true
}

/// CHANNEL_NOTIFY from `domain`: its `number`th channel (as its device tree lists them) has
/// news in the ring. Returns false when `domain` is the backend of no such channel.
pub fn backend_doorbell(domain: &Domain, number: u64) -> bool {
    let machine = machine();
    let Some(channel) = machine
        .channels
        .iter()
        .filter(|channel| channel.backend == domain.index)
        .nth(number as usize)
    else {
        return false;
    };
    let frontend = &machine.domains[channel.frontend];
    let guest = DomainMemory::new(frontend);
    let mut transport = channel.transport.lock();
    let moved = transport.on_backend_doorbell(&guest, &channel.ring);
    after_move(channel, &transport, moved);
    true
}

/// The frontend restarts: its device returns to the reset state, and the backend learns that
/// the frontend's connections are gone.
pub fn reset_frontend(domain: &Domain) {
    for channel in machine()
        .channels
        .iter()
        .filter(|channel| channel.frontend == domain.index)
    {
        let mut transport = channel.transport.lock();
        transport.reset();
        let notice = reset_notice(&mut transport, channel);
        channel.frontend_level.store(false, Ordering::Release);
        after_move(channel, &transport, notice);
    }
}

/// Sends the backend the notice that the frontend reset its device, as the effects of a move.
fn reset_notice(
    transport: &mut VsockTransport,
    channel: &ChannelRuntime,
) -> Result<MoveEffects, VsockError> {
    transport
        .send_reset_notice(&channel.ring)
        .map(|sent| MoveEffects {
            notify_backend: sent,
            ..MoveEffects::default()
        })
}

/// Acts on what a move did; the caller still holds the channel's transport.
fn after_move(
    channel: &ChannelRuntime,
    transport: &VsockTransport,
    moved: Result<MoveEffects, VsockError>,
) {
    let machine = machine();
    let frontend = &machine.domains[channel.frontend];
    match moved {
        Ok(effects) => {
            if let Some(rejected) = effects.rejected {
                log_fault(
                    frontend,
                    format_args!(
                        "{} vsock packet(s) refused, the first: {}",
                        effects.rejected_count,
                        Shown(&rejected)
                    ),
                );
            }
            if effects.notify_backend {
                let backend = &machine.domains[channel.backend];
                inject(backend, channel.plan.backend_interrupt);
            }
            set_frontend_interrupt(channel, transport, effects.interrupt);
        }
        Err(error) => {
            // The error says what follows: a queue's error that the device needs a reset, the
            // ring's that the channel stopped.
            log_fault(
                frontend,
                format_args!("channel {}: {}", channel.plan.name, Shown(&error)),
            );
            let level = transport.device().interrupt_level();
            set_frontend_interrupt(channel, transport, level);
        }
    }
}

/// Injects the frontend's interrupt when its line rises. `_transport` is the caller's hold on
/// the channel's transport: the level must be computed and recorded under it, or a CPU that
/// computed a falling level (the guest's InterruptACK) can record it after another CPU's rising
/// one (the backend's reply) was dropped as "no edge", and the guest waits for its next timer
/// tick to find the reply (seen as late wake-ups on the pinned plan).
fn set_frontend_interrupt(channel: &ChannelRuntime, _transport: &VsockTransport, level: bool) {
    let was = channel.frontend_level.swap(level, Ordering::AcqRel);
    if level && !was {
        inject(
            &machine().domains[channel.frontend],
            channel.plan.frontend_interrupt,
        );
    }
}

fn inject(domain: &Domain, intid: u32) {
    match domain.vgic.lock().inject(0, intid) {
        Ok(kicks) => interrupts::kick_vcpus(domain, kicks),
        Err(error) => hyp_log!(
            "{}: channel interrupt {} not delivered: {}",
            domain.name(),
            intid,
            Shown(&error)
        ),
    }
}

/// A domain's RAM at EL2 (host RAM is identity-mapped there), every access checked against it.
pub(super) struct DomainMemory {
    ram: [GuestRamRange; 1],
    /// Host physical address minus guest-physical address.
    offset: u64,
}

impl DomainMemory {
    pub(super) fn new(domain: &Domain) -> DomainMemory {
        DomainMemory {
            ram: [GuestRamRange {
                base: GuestAddress(domain.ram.base),
                size: domain.ram.size,
            }],
            offset: domain.ram_physical.wrapping_sub(domain.ram.base),
        }
    }
}

impl GuestMemory for DomainMemory {
    fn contains(&self, address: GuestAddress, length: u64) -> bool {
        GuestRam::new(&self.ram).contains(address, length)
    }

    fn read(&self, address: GuestAddress, buffer: &mut [u8]) -> Result<(), GuestMemoryError> {
        GuestRam::new(&self.ram).check(address, buffer.len() as u64)?;
        let host = address.0.wrapping_add(self.offset) as *const u8;
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: the range is inside the domain's RAM (checked above), which the EL2 map
            // covers as normal memory; the guest may change it concurrently, hence volatile.
            *byte = unsafe { host.add(index).read_volatile() };
        }
        Ok(())
    }

    fn write(&self, address: GuestAddress, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        GuestRam::new(&self.ram).check(address, bytes.len() as u64)?;
        let host = address.0.wrapping_add(self.offset) as *mut u8;
        for (index, &byte) in bytes.iter().enumerate() {
            // SAFETY: as in `read`; the domain's RAM belongs to no one else.
            unsafe { host.add(index).write_volatile(byte) };
        }
        Ok(())
    }
}

/// A channel's ring region at EL2 (identity-mapped host RAM that only the backend also maps).
struct RingMemory {
    region: MemoryRange,
}

impl RingMemory {
    /// The address of `length` bytes at `offset`, if they lie inside the region.
    fn at(&self, offset: usize, length: usize) -> Option<usize> {
        let end = offset.checked_add(length)?;
        (end as u64 <= self.region.size).then(|| self.region.base as usize + offset)
    }
}

impl SharedMemory for RingMemory {
    fn size(&self) -> usize {
        self.region.size as usize
    }

    fn load_u32_acquire(&self, offset: usize) -> u32 {
        let Some(address) = self.at(offset, 4).filter(|a| a % 4 == 0) else {
            return 0;
        };
        // SAFETY: an aligned word inside the ring region, mapped at EL2; the backend writes it
        // concurrently, hence volatile.
        let value = unsafe { (address as *const u32).read_volatile() };
        fence(Ordering::Acquire);
        u32::from_le(value)
    }

    fn store_u32_release(&self, offset: usize, value: u32) {
        let Some(address) = self.at(offset, 4).filter(|a| a % 4 == 0) else {
            return;
        };
        fence(Ordering::Release);
        // SAFETY: as in `load_u32_acquire`.
        unsafe { (address as *mut u32).write_volatile(value.to_le()) };
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) {
        let Some(address) = self.at(offset, buffer.len()) else {
            return;
        };
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: inside the ring region (checked above), mapped at EL2.
            *byte = unsafe { ((address + index) as *const u8).read_volatile() };
        }
    }

    fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        let Some(address) = self.at(offset, bytes.len()) else {
            return;
        };
        for (index, &byte) in bytes.iter().enumerate() {
            // SAFETY: as in `read_bytes`.
            unsafe { ((address + index) as *mut u8).write_volatile(byte) };
        }
    }
}

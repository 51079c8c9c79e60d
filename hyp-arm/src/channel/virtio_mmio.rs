//! The register block of one virtio-mmio device, version 2 (virtio 1.2 section 4.2.2), as a
//! driver in the guest sees it: identification, feature negotiation, queue setup, notifications,
//! interrupt status and the device-specific configuration space.
//!
//! Control registers (below 0x100) take only aligned 32-bit accesses, as 4.2.2.2 requires of
//! drivers; the configuration space takes aligned 8, 16, 32 and 64-bit reads (Linux reads a
//! 64-bit field as two 32-bit halves) and ignores writes (no device here has a writable field).
//! Reserved offsets read as zero and ignore writes; other accesses are refused and the caller
//! injects a fault, as for the PL011 model.
//!
//! Offered features: VIRTIO_F_VERSION_1 only. FEATURES_OK sticks only if the driver accepted
//! VERSION_1 and nothing else (2.2). A malformed queue puts the device into DEVICE_NEEDS_RESET
//! with a configuration-change interrupt (2.1.2); it stays so until the driver resets it.

use core::fmt;

use super::virtqueue::{QueueLayout, Virtqueue, VirtqueueError, MAX_QUEUE_SIZE};
use super::GuestAddress;

/// The size of the register frame (QEMU's virtio-mmio transports are 0x200 apart).
pub const FRAME_SIZE: u64 = 0x200;
/// "virt" (4.2.2).
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// The non-legacy virtio-mmio version.
pub const VERSION: u32 = 2;
/// hyp-arm's vendor ID: "HYPA" read as a little-endian u32.
pub const VENDOR_ID: u32 = u32::from_le_bytes(*b"HYPA");
/// VIRTIO_F_VERSION_1 (6): a non-legacy device.
pub const FEATURE_VERSION_1: u64 = 1 << 32;
/// The most queues of one device (vsock: rx, tx, event).
pub const MAX_QUEUES: usize = 3;
/// The most bytes of configuration space a device here has.
pub const MAX_CONFIG_SIZE: usize = 16;

/// Register offsets (4.2.2, table "MMIO Device Register Layout").
mod register {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00C;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SELECT: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SELECT: u64 = 0x024;
    pub const QUEUE_SELECT: u64 = 0x030;
    pub const QUEUE_SIZE_MAX: u64 = 0x034;
    pub const QUEUE_SIZE: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACKNOWLEDGE: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    /// Each queue address is a low half and, 4 bytes above it, a high half.
    pub const QUEUE_DESCRIPTOR_LOW: u64 = 0x080;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0A0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0A4;
    /// SHMLenLow..SHMBaseHigh: no shared memory regions, so all ones (4.2.2).
    pub const SHARED_MEMORY_FIRST: u64 = 0x0B0;
    pub const SHARED_MEMORY_LAST: u64 = 0x0BC;
    pub const CONFIG_GENERATION: u64 = 0x0FC;
    pub const CONFIG: u64 = 0x100;
}

/// Device status bits (2.1).
pub mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    pub const FAILED: u32 = 0x80;
}

/// InterruptStatus bits (4.2.2).
pub mod interrupt {
    pub const USED_BUFFER: u32 = 1;
    pub const CONFIGURATION_CHANGE: u32 = 2;
}

/// An access the model refused; its state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioMmioAccessError {
    /// A control register accessed other than with 32 bits.
    ControlRegisterWidth { offset: u64, width: u8 },
    /// Not a 1, 2, 4 or 8-byte access.
    UnsupportedWidth { offset: u64, width: u8 },
    /// The offset is not a multiple of the width.
    Misaligned { offset: u64, width: u8 },
    /// Beyond the register frame.
    OutOfRange { offset: u64 },
}

impl fmt::Display for VirtioMmioAccessError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ControlRegisterWidth { offset, width } => write!(
                formatter,
                "virtio-mmio access of {width} bytes to control register {offset:#x}: only 4 are allowed"
            ),
            Self::UnsupportedWidth { offset, width } => write!(
                formatter,
                "virtio-mmio access of {width} bytes at offset {offset:#x}"
            ),
            Self::Misaligned { offset, width } => write!(
                formatter,
                "virtio-mmio access of {width} bytes at unaligned offset {offset:#x}"
            ),
            Self::OutOfRange { offset } => write!(
                formatter,
                "virtio-mmio access at offset {offset:#x}, beyond the register frame"
            ),
        }
    }
}

/// What a register write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteEffects {
    /// The driver notified this queue (QueueNotify): the device should process it.
    pub notified_queue: Option<u16>,
    /// The interrupt line's level after the write.
    pub interrupt: bool,
    /// The driver reset the device (Status = 0): the backend may drop what it had for it.
    pub reset: bool,
    /// The driver set DRIVER_OK: the device is live.
    pub driver_ok: bool,
    /// A queue the driver enabled was malformed: the device is now in DEVICE_NEEDS_RESET.
    pub queue_error: Option<(u16, VirtqueueError)>,
}

/// The registers of one queue, and the device's state of it once ready.
#[derive(Clone, Copy, Debug, Default)]
struct QueueRegisters {
    size: u16,
    descriptor_table: u64,
    available_ring: u64,
    used_ring: u64,
    /// Present while QueueReady is 1.
    ready: Option<Virtqueue>,
}

/// What a device is, for its identification registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The virtio device ID (5: 19 = vsock).
    pub device_id: u32,
    /// Its queues (at most [`MAX_QUEUES`]).
    pub queue_count: usize,
    /// Device-specific feature bits offered besides VIRTIO_F_VERSION_1.
    pub device_features: u64,
}

/// The register state of one virtio-mmio device.
#[derive(Clone, Debug)]
pub struct VirtioMmio {
    identity: DeviceIdentity,
    config: [u8; MAX_CONFIG_SIZE],
    device_features_select: u32,
    driver_features_select: u32,
    driver_features: u64,
    queue_select: u32,
    queues: [QueueRegisters; MAX_QUEUES],
    interrupt_status: u32,
    status: u32,
}

mod access;

impl VirtioMmio {
    /// A device after reset. `config` is its configuration space (longer is cut to
    /// [`MAX_CONFIG_SIZE`]; the rest reads as zero), and more than [`MAX_QUEUES`] queues are cut.
    pub fn new(identity: DeviceIdentity, config: &[u8]) -> VirtioMmio {
        let mut bytes = [0; MAX_CONFIG_SIZE];
        let length = config.len().min(MAX_CONFIG_SIZE);
        bytes[..length].copy_from_slice(&config[..length]);
        VirtioMmio {
            identity: DeviceIdentity {
                queue_count: identity.queue_count.min(MAX_QUEUES),
                ..identity
            },
            config: bytes,
            device_features_select: 0,
            driver_features_select: 0,
            driver_features: 0,
            queue_select: 0,
            queues: [QueueRegisters::default(); MAX_QUEUES],
            interrupt_status: 0,
            status: 0,
        }
    }

    /// The features offered.
    pub fn device_features(&self) -> u64 {
        FEATURE_VERSION_1 | self.identity.device_features
    }

    /// The features the driver accepted (meaningful once FEATURES_OK holds).
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The Status register.
    pub fn status(&self) -> u32 {
        self.status
    }

    /// Whether the device moves buffers: DRIVER_OK set, not failed, not needing a reset.
    pub fn is_live(&self) -> bool {
        self.status & (status::DRIVER_OK | status::DEVICE_NEEDS_RESET | status::FAILED)
            == status::DRIVER_OK
    }

    /// Queue `index` if the device is live and the driver made it ready.
    pub fn queue_mut(&mut self, index: u16) -> Option<&mut Virtqueue> {
        if !self.is_live() {
            return None;
        }
        self.queues
            .get_mut(usize::from(index))
            .filter(|_| usize::from(index) < self.identity.queue_count)
            .and_then(|queue| queue.ready.as_mut())
    }

    /// Raises the used-buffer interrupt (the caller decided the driver wants it).
    pub fn raise_used_buffer_interrupt(&mut self) {
        self.interrupt_status |= interrupt::USED_BUFFER;
    }

    /// Puts the device into DEVICE_NEEDS_RESET after a malformed queue; a live driver gets a
    /// configuration-change interrupt (2.1.2). Nothing moves until the driver resets it.
    pub fn enter_needs_reset(&mut self) {
        self.status |= status::DEVICE_NEEDS_RESET;
        if self.status & status::DRIVER_OK != 0 {
            self.interrupt_status |= interrupt::CONFIGURATION_CHANGE;
        }
    }

    /// The interrupt line's level.
    pub fn interrupt_level(&self) -> bool {
        self.interrupt_status != 0
    }

    /// Returns to the state after reset (the driver wrote 0 to Status, or the domain restarts).
    pub fn reset(&mut self) {
        *self = VirtioMmio::new(self.identity, &self.config);
    }

    /// The queue QueueSel points at, if it exists.
    fn selected_queue(&self) -> Option<&QueueRegisters> {
        let index = usize::try_from(self.queue_select).ok()?;
        self.queues
            .get(index)
            .filter(|_| index < self.identity.queue_count)
    }

    fn selected_queue_mut(&mut self) -> Option<&mut QueueRegisters> {
        let index = usize::try_from(self.queue_select).ok()?;
        let count = self.identity.queue_count;
        self.queues.get_mut(index).filter(|_| index < count)
    }

    /// The driver wrote 1 to QueueReady: check the queue and start it, or fail the device.
    fn enable_selected_queue(&mut self) -> Option<(u16, VirtqueueError)> {
        // Only called with a selected queue, whose index is below MAX_QUEUES.
        let index = self.queue_select as u16;
        let queue = self.selected_queue_mut()?;
        if queue.ready.is_some() {
            return None;
        }
        let layout = QueueLayout {
            size: queue.size,
            descriptor_table: GuestAddress(queue.descriptor_table),
            available_ring: GuestAddress(queue.available_ring),
            used_ring: GuestAddress(queue.used_ring),
        };
        match Virtqueue::new(layout) {
            Ok(virtqueue) => {
                queue.ready = Some(virtqueue);
                None
            }
            Err(error) => {
                self.enter_needs_reset();
                Some((index, error))
            }
        }
    }

    /// The driver wrote Status (2.1, 3.1.1).
    fn write_status(&mut self, value: u32, effects: &mut WriteEffects) {
        if value == 0 {
            self.reset();
            effects.reset = true;
            return;
        }
        let old = self.status;
        // DEVICE_NEEDS_RESET is the device's to set and only a reset clears it.
        let mut new =
            (value & 0xFF & !status::DEVICE_NEEDS_RESET) | (old & status::DEVICE_NEEDS_RESET);
        if new & status::FEATURES_OK != 0 && old & status::FEATURES_OK == 0 {
            let acceptable = self.driver_features & !self.device_features() == 0
                && self.driver_features & FEATURE_VERSION_1 != 0;
            if !acceptable {
                new &= !status::FEATURES_OK;
            }
        }
        if new & status::DRIVER_OK != 0 && old & status::DRIVER_OK == 0 {
            effects.driver_ok = true;
        }
        self.status = new;
    }

    /// The 32-bit word of a 64-bit value that `select` picks.
    fn feature_word(features: u64, select: u32) -> u32 {
        match select {
            // The casts keep the selected half.
            0 => features as u32,
            1 => (features >> 32) as u32,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;

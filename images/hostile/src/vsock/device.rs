//! The virtio-mmio register frame (virtio 1.2 section 4.2.2) and the driver's side of device
//! initialization (3.1.1): reset, ACKNOWLEDGE, DRIVER, VIRTIO_F_VERSION_1, FEATURES_OK, the three
//! queues, DRIVER_OK. A [`Tweak`] breaks the transmit queue's setup for the cases that are
//! refused when the queue is enabled.

use core::ptr::{read_volatile, write_volatile};

use super::dma;
use super::queue::{DriverQueue, QUEUE_SIZE};
use super::Failure;
use crate::machine::Machine;

/// Register offsets (4.2.2).
pub mod register {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
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
    pub const QUEUE_DESCRIPTOR_LOW: u64 = 0x080;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0A0;
    pub const CONFIG: u64 = 0x100;
}

/// Status bits (2.1).
pub mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    pub const FAILED: u32 = 0x80;
}

/// "virt".
const MAGIC: u32 = 0x7472_6976;
/// Non-legacy virtio-mmio.
const VERSION: u32 = 2;
/// A socket device (5).
pub const VSOCK_DEVICE_ID: u32 = 19;
/// VIRTIO_F_VERSION_1 is feature bit 32: bit 0 of the second feature word.
const VERSION_1_HIGH_WORD: u32 = 1;
/// The queues (5.10.2).
pub const RECEIVE_QUEUE: u16 = 0;
pub const TRANSMIT_QUEUE: u16 = 1;
pub const EVENT_QUEUE: u16 = 2;

/// How the transmit queue's setup is broken, if at all.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tweak {
    None,
    /// QueueNum not a power of two.
    QueueSize(u32),
    /// The descriptor table 8 bytes into its page (16 is required).
    MisalignedDescriptorTable,
    /// The available ring (driver area) at this address instead of in the guest's memory.
    DriverArea(u64),
}

/// The guest's virtio-vsock device.
pub struct Device {
    pub base: u64,
    pub intid: u32,
}

impl Device {
    /// The first `virtio,mmio` node whose frame says it is a version 2 socket device.
    pub fn find(machine: &Machine) -> Result<Device, Failure> {
        for node in &machine.virtio[..machine.virtio_count] {
            let device = Device {
                base: node.base,
                intid: node.intid,
            };
            if device.read(register::MAGIC_VALUE) != MAGIC {
                continue;
            }
            if device.read(register::DEVICE_ID) != VSOCK_DEVICE_ID {
                continue;
            }
            if device.read(register::VERSION) != VERSION {
                return Err(Failure(
                    "the virtio-vsock device is not virtio-mmio version 2",
                ));
            }
            return Ok(device);
        }
        Err(Failure("no virtio,mmio node is a virtio-vsock device"))
    }

    pub fn read(&self, offset: u64) -> u32 {
        // SAFETY: `base` is a virtio-mmio frame of the device tree, which this guest drives;
        // an aligned 32-bit register read changes nothing but the device's own state.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    pub fn write(&self, offset: u64, value: u32) {
        // SAFETY: as in `read`; the device's memory accesses are to `dma`'s block, which the
        // driver set up for it, or are checked by the device (the point of the exercise).
        unsafe { write_volatile((self.base + offset) as *mut u32, value) };
    }

    pub fn status(&self) -> u32 {
        self.read(register::STATUS)
    }

    /// DRIVER_OK and neither DEVICE_NEEDS_RESET nor FAILED.
    pub fn is_healthy(&self) -> bool {
        self.status() & (status::DRIVER_OK | status::DEVICE_NEEDS_RESET | status::FAILED)
            == status::DRIVER_OK
    }

    /// Tells the device that queue `queue` has new buffers.
    pub fn notify(&self, queue: u16) {
        // The ring entries and avail.idx must be in memory before the device looks (2.7.13).
        dma::barrier();
        self.write(register::QUEUE_NOTIFY, u32::from(queue));
    }

    /// Acknowledges whatever interrupt the device raised (the guest polls; it only keeps the
    /// device's line low).
    pub fn acknowledge_interrupts(&self) {
        let pending = self.read(register::INTERRUPT_STATUS);
        if pending != 0 {
            self.write(register::INTERRUPT_ACKNOWLEDGE, pending);
        }
    }

    /// Resets the device and sets it up again with fresh queues, the transmit queue broken as
    /// `tweak` says. Returns the queues and the guest's CID from the configuration space, or,
    /// when the device refused a queue, `Ok(None)` with the device left as it is (no DRIVER_OK).
    pub fn initialize(&self, tweak: Tweak) -> Result<Option<([DriverQueue; 3], u64)>, Failure> {
        self.write(register::STATUS, 0);
        if self.status() != 0 {
            return Err(Failure("Status is not 0 after a reset"));
        }
        dma::clear_queues();
        self.write(register::STATUS, status::ACKNOWLEDGE);
        self.write(register::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.write(register::DEVICE_FEATURES_SELECT, 1);
        if self.read(register::DEVICE_FEATURES) & VERSION_1_HIGH_WORD == 0 {
            return Err(Failure("the device does not offer VIRTIO_F_VERSION_1"));
        }
        self.write(register::DRIVER_FEATURES_SELECT, 1);
        self.write(register::DRIVER_FEATURES, VERSION_1_HIGH_WORD);
        self.write(register::DRIVER_FEATURES_SELECT, 0);
        self.write(register::DRIVER_FEATURES, 0);
        let negotiating = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.write(register::STATUS, negotiating);
        if self.status() & status::FEATURES_OK == 0 {
            return Err(Failure(
                "the device refused VIRTIO_F_VERSION_1 (FEATURES_OK)",
            ));
        }
        let queues = [
            DriverQueue::new(RECEIVE_QUEUE),
            DriverQueue::new(TRANSMIT_QUEUE),
            DriverQueue::new(EVENT_QUEUE),
        ];
        for queue in &queues {
            let tweak = if queue.index == TRANSMIT_QUEUE {
                tweak
            } else {
                Tweak::None
            };
            self.set_up_queue(queue, tweak)?;
            if self.status() & status::DEVICE_NEEDS_RESET != 0 {
                return Ok(None);
            }
        }
        let cid = u64::from(self.read(register::CONFIG))
            | u64::from(self.read(register::CONFIG + 4)) << 32;
        self.write(register::STATUS, negotiating | status::DRIVER_OK);
        if !self.is_healthy() {
            return Err(Failure("the device is not live after DRIVER_OK"));
        }
        Ok(Some((queues, cid)))
    }

    fn set_up_queue(&self, queue: &DriverQueue, tweak: Tweak) -> Result<(), Failure> {
        self.write(register::QUEUE_SELECT, u32::from(queue.index));
        if self.read(register::QUEUE_READY) != 0 {
            return Err(Failure("a queue is ready right after a reset"));
        }
        if self.read(register::QUEUE_SIZE_MAX) < u32::from(QUEUE_SIZE) {
            return Err(Failure("the device's queues are smaller than 16"));
        }
        let size = match tweak {
            Tweak::QueueSize(size) => size,
            _ => u32::from(QUEUE_SIZE),
        };
        self.write(register::QUEUE_SIZE, size);
        let mut descriptor_table =
            dma::address(dma::queue_area(queue.index, dma::DESCRIPTOR_TABLE));
        if tweak == Tweak::MisalignedDescriptorTable {
            descriptor_table += 8;
        }
        let driver_area = match tweak {
            Tweak::DriverArea(address) => address,
            _ => dma::address(dma::queue_area(queue.index, dma::AVAILABLE_RING)),
        };
        let device_area = dma::address(dma::queue_area(queue.index, dma::USED_RING));
        for (low, address) in [
            (register::QUEUE_DESCRIPTOR_LOW, descriptor_table),
            (register::QUEUE_DRIVER_LOW, driver_area),
            (register::QUEUE_DEVICE_LOW, device_area),
        ] {
            // The casts keep each half.
            self.write(low, address as u32);
            self.write(low + 4, (address >> 32) as u32);
        }
        self.write(register::QUEUE_READY, 1);
        Ok(())
    }
}

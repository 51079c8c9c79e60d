//! Register reads and writes of the virtio-mmio model.

use super::{register, status, FRAME_SIZE, MAGIC_VALUE, MAX_QUEUE_SIZE, VENDOR_ID, VERSION};
use super::{VirtioMmio, VirtioMmioAccessError, WriteEffects};

/// Which kind of register an access falls in.
enum Target {
    /// A 32-bit control register.
    Control(u64),
    /// `width` bytes at this offset of the configuration space.
    Config(usize),
}

fn check(offset: u64, width: u8) -> Result<Target, VirtioMmioAccessError> {
    if !matches!(width, 1 | 2 | 4 | 8) {
        return Err(VirtioMmioAccessError::UnsupportedWidth { offset, width });
    }
    if !offset.is_multiple_of(u64::from(width)) {
        return Err(VirtioMmioAccessError::Misaligned { offset, width });
    }
    // Aligned, so an access that starts in the frame ends in it.
    if offset >= FRAME_SIZE {
        return Err(VirtioMmioAccessError::OutOfRange { offset });
    }
    if offset >= register::CONFIG {
        // Below FRAME_SIZE, so it fits.
        return Ok(Target::Config((offset - register::CONFIG) as usize));
    }
    if width != 4 {
        return Err(VirtioMmioAccessError::ControlRegisterWidth { offset, width });
    }
    Ok(Target::Control(offset))
}

/// Replaces the low or high half of `old`.
fn set_half(old: u64, value: u32, high: bool) -> u64 {
    if high {
        (old & 0xFFFF_FFFF) | (u64::from(value) << 32)
    } else {
        (old & !0xFFFF_FFFF) | u64::from(value)
    }
}

impl VirtioMmio {
    /// Emulates a `width`-byte read at `offset`.
    pub fn read(&self, offset: u64, width: u8) -> Result<u64, VirtioMmioAccessError> {
        let offset = match check(offset, width)? {
            Target::Config(start) => {
                let mut bytes = [0; 8];
                for (index, byte) in bytes[..usize::from(width)].iter_mut().enumerate() {
                    *byte = self.config.get(start + index).copied().unwrap_or(0);
                }
                return Ok(u64::from_le_bytes(bytes));
            }
            Target::Control(offset) => offset,
        };
        let queue = self.selected_queue();
        let value = match offset {
            register::MAGIC_VALUE => MAGIC_VALUE,
            register::VERSION => VERSION,
            register::DEVICE_ID => self.identity.device_id,
            register::VENDOR_ID => VENDOR_ID,
            register::DEVICE_FEATURES => {
                Self::feature_word(self.device_features(), self.device_features_select)
            }
            register::QUEUE_SIZE_MAX => queue.map_or(0, |_| u32::from(MAX_QUEUE_SIZE)),
            register::QUEUE_SIZE => queue.map_or(0, |queue| u32::from(queue.size)),
            register::QUEUE_READY => queue.map_or(0, |queue| u32::from(queue.ready.is_some())),
            register::INTERRUPT_STATUS => self.interrupt_status,
            register::STATUS => self.status,
            register::SHARED_MEMORY_FIRST..=register::SHARED_MEMORY_LAST => u32::MAX,
            // The configuration never changes.
            register::CONFIG_GENERATION => 0,
            // The queue addresses read back (4.2.2: read-write), low and high halves.
            register::QUEUE_DESCRIPTOR_LOW..=register::QUEUE_DEVICE_HIGH => {
                queue.map_or(0, |queue| {
                    let address = match offset & !4 {
                        register::QUEUE_DESCRIPTOR_LOW => queue.descriptor_table,
                        register::QUEUE_DRIVER_LOW => queue.available_ring,
                        register::QUEUE_DEVICE_LOW => queue.used_ring,
                        _ => return 0,
                    };
                    // The casts keep the half asked for.
                    if offset & 4 == 0 {
                        address as u32
                    } else {
                        (address >> 32) as u32
                    }
                })
            }
            // Write-only and reserved registers.
            _ => 0,
        };
        Ok(u64::from(value))
    }

    /// Emulates a `width`-byte write of `value` at `offset`.
    pub fn write(
        &mut self,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<WriteEffects, VirtioMmioAccessError> {
        let mut effects = WriteEffects::default();
        let Target::Control(offset) = check(offset, width)? else {
            // The configuration space of the devices here is read-only.
            effects.interrupt = self.interrupt_level();
            return Ok(effects);
        };
        // A 32-bit access: the cast keeps what was written.
        let value = value as u32;
        let configuring = self.status & status::FEATURES_OK == 0;
        match offset {
            register::DEVICE_FEATURES_SELECT => self.device_features_select = value,
            register::DRIVER_FEATURES_SELECT => self.driver_features_select = value,
            // Features are fixed once FEATURES_OK holds (2.2.2).
            register::DRIVER_FEATURES if configuring => match self.driver_features_select {
                0 => self.driver_features = set_half(self.driver_features, value, false),
                1 => self.driver_features = set_half(self.driver_features, value, true),
                _ => {}
            },
            register::QUEUE_SELECT => self.queue_select = value,
            register::QUEUE_READY => match value {
                0 => {
                    if let Some(queue) = self.selected_queue_mut() {
                        queue.ready = None;
                    }
                }
                _ => effects.queue_error = self.enable_selected_queue(),
            },
            register::QUEUE_NOTIFY => {
                // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
                effects.notified_queue = u16::try_from(value).ok();
            }
            register::INTERRUPT_ACKNOWLEDGE => self.interrupt_status &= !value,
            register::STATUS => self.write_status(value, &mut effects),
            // A queue's size and addresses are fixed while it is ready (4.2.2).
            register::QUEUE_SIZE | register::QUEUE_DESCRIPTOR_LOW..=register::QUEUE_DEVICE_HIGH => {
                if let Some(queue) = self
                    .selected_queue_mut()
                    .filter(|queue| queue.ready.is_none())
                {
                    let high = offset & 4 != 0;
                    match offset & !4 {
                        // A size beyond 16 bits becomes one QueueReady refuses as bad.
                        register::QUEUE_SIZE => {
                            queue.size = u16::try_from(value).unwrap_or(u16::MAX)
                        }
                        register::QUEUE_DESCRIPTOR_LOW => {
                            queue.descriptor_table = set_half(queue.descriptor_table, value, high)
                        }
                        register::QUEUE_DRIVER_LOW => {
                            queue.available_ring = set_half(queue.available_ring, value, high)
                        }
                        register::QUEUE_DEVICE_LOW => {
                            queue.used_ring = set_half(queue.used_ring, value, high)
                        }
                        _ => {}
                    }
                }
            }
            // Read-only and reserved registers.
            _ => {}
        }
        effects.interrupt = self.interrupt_level();
        Ok(effects)
    }
}

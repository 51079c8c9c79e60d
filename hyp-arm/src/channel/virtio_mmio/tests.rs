//! Tests of the virtio-mmio model, replaying what Linux's virtio_mmio and virtio core do at
//! probe (vm_probe, virtio_dev_probe, vm_find_vqs), and what a hostile driver might do.

use super::*;

const VSOCK: DeviceIdentity = DeviceIdentity {
    device_id: 19,
    queue_count: 3,
    device_features: 0,
};
const GUEST_CID: u64 = 3;

fn device() -> VirtioMmio {
    VirtioMmio::new(VSOCK, &GUEST_CID.to_le_bytes())
}

fn read(device: &VirtioMmio, offset: u64) -> u32 {
    device.read(offset, 4).unwrap() as u32
}

fn write(device: &mut VirtioMmio, offset: u64, value: u32) -> WriteEffects {
    device.write(offset, 4, u64::from(value)).unwrap()
}

/// Sets up queue `index` of `size` entries at `base` as vm_setup_vq does.
pub fn setup_queue(device: &mut VirtioMmio, index: u32, size: u16, base: u64) -> WriteEffects {
    write(device, 0x030, index);
    assert_eq!(read(device, 0x044), 0, "queue not yet ready");
    assert_eq!(read(device, 0x034), u32::from(MAX_QUEUE_SIZE));
    write(device, 0x038, u32::from(size));
    let used = base + 0x1000;
    for (low, address) in [(0x080, base), (0x090, base + 0x800), (0x0A0, used)] {
        write(device, low, address as u32);
        write(device, low + 4, (address >> 32) as u32);
    }
    write(device, 0x044, 1)
}

/// Identification, reset, ACKNOWLEDGE | DRIVER, feature negotiation, FEATURES_OK: what Linux
/// does before the driver's probe. Returns the status read back.
pub fn negotiate(device: &mut VirtioMmio, accepted: u64) -> u32 {
    assert_eq!(read(device, 0x000), 0x7472_6976);
    assert_eq!(read(device, 0x004), 2);
    assert_eq!(read(device, 0x008), 19);
    let _vendor = read(device, 0x00C);
    write(device, 0x070, 0);
    write(device, 0x070, 1);
    write(device, 0x070, 1 | 2);
    write(device, 0x014, 1);
    let high = read(device, 0x010);
    write(device, 0x014, 0);
    let low = read(device, 0x010);
    assert_eq!((u64::from(high) << 32) | u64::from(low), 1 << 32);
    write(device, 0x024, 1);
    write(device, 0x020, (accepted >> 32) as u32);
    write(device, 0x024, 0);
    write(device, 0x020, accepted as u32);
    write(device, 0x070, 1 | 2 | 8);
    read(device, 0x070)
}

#[test]
fn linux_probe_brings_the_device_up() {
    let mut device = device();
    assert_eq!(negotiate(&mut device, 1 << 32), 1 | 2 | 8);
    for index in 0..3 {
        let effects = setup_queue(
            &mut device,
            index,
            64,
            0x4010_0000 + 0x2000 * u64::from(index),
        );
        assert_eq!(effects.queue_error, None);
        assert_eq!(read(&device, 0x044), 1);
    }
    // virtio_vsock_update_guest_cid: the 64-bit field as two 32-bit reads.
    let cid = device.read(0x100, 4).unwrap() | device.read(0x104, 4).unwrap() << 32;
    assert_eq!(cid, GUEST_CID);
    assert_eq!(device.read(0x100, 8), Ok(GUEST_CID));
    assert_eq!(device.read(0x100, 1), Ok(3));
    assert_eq!(device.read(0x108, 4), Ok(0), "beyond the config space");
    assert!(!device.is_live());
    let effects = write(&mut device, 0x070, 1 | 2 | 8 | 4);
    assert!(effects.driver_ok);
    assert!(device.is_live());
    assert!(device.queue_mut(1).is_some());
    assert!(device.queue_mut(3).is_none());
    // Queue addresses read back.
    write(&mut device, 0x030, 1);
    assert_eq!(read(&device, 0x080), 0x4010_2000);
    assert_eq!(read(&device, 0x084), 0);
    // A queue beyond the device's has no size.
    write(&mut device, 0x030, 3);
    assert_eq!(read(&device, 0x034), 0);
    assert_eq!(read(&device, 0x0B0), u32::MAX, "no shared memory region");
}

#[test]
fn features_beyond_the_offer_or_without_version_1_are_refused() {
    let mut device = device();
    assert_eq!(
        negotiate(&mut device, 1 << 32 | 1),
        1 | 2,
        "an unoffered feature"
    );
    let mut device = self::device();
    assert_eq!(negotiate(&mut device, 0), 1 | 2, "a legacy driver");
    // Features are fixed after FEATURES_OK.
    let mut device = self::device();
    negotiate(&mut device, 1 << 32);
    write(&mut device, 0x024, 0);
    write(&mut device, 0x020, 1);
    assert_eq!(device.driver_features(), 1 << 32);
}

#[test]
fn notify_names_the_queue_and_interrupts_are_acknowledged() {
    let mut device = device();
    let effects = write(&mut device, 0x050, 1);
    assert_eq!(effects.notified_queue, Some(1));
    assert!(!effects.interrupt);
    device.raise_used_buffer_interrupt();
    assert!(device.interrupt_level());
    assert_eq!(read(&device, 0x060), 1);
    let effects = write(&mut device, 0x064, 1);
    assert!(!effects.interrupt);
    assert_eq!(read(&device, 0x060), 0);
}

#[test]
fn malformed_queues_need_a_reset_and_reset_clears_everything() {
    let mut device = device();
    negotiate(&mut device, 1 << 32);
    setup_queue(&mut device, 0, 64, 0x4010_0000);
    write(&mut device, 0x070, 1 | 2 | 8 | 4);
    // A size that is not a power of two.
    let effects = setup_queue(&mut device, 1, 48, 0x4020_0000);
    assert_eq!(
        effects.queue_error,
        Some((1, VirtqueueError::BadQueueSize { size: 48 }))
    );
    assert!(effects.interrupt, "configuration-change interrupt");
    assert_eq!(read(&device, 0x060), 2);
    assert_eq!(read(&device, 0x070) & 0x40, 0x40);
    assert!(!device.is_live());
    assert!(device.queue_mut(0).is_none());
    // The driver cannot clear DEVICE_NEEDS_RESET by writing Status...
    write(&mut device, 0x070, 1 | 2 | 8 | 4);
    assert_eq!(read(&device, 0x070) & 0x40, 0x40);
    // ...only by a reset.
    let effects = write(&mut device, 0x070, 0);
    assert!(effects.reset);
    assert!(!effects.interrupt);
    assert_eq!(read(&device, 0x070), 0);
    write(&mut device, 0x030, 0);
    assert_eq!(read(&device, 0x044), 0);
    assert_eq!(read(&device, 0x080), 0);
    assert_eq!(
        device.read(0x100, 8),
        Ok(GUEST_CID),
        "config survives reset"
    );
}

#[test]
fn a_ready_queue_keeps_its_layout() {
    let mut device = device();
    negotiate(&mut device, 1 << 32);
    setup_queue(&mut device, 0, 64, 0x4010_0000);
    write(&mut device, 0x038, 8);
    write(&mut device, 0x080, 0x1000);
    assert_eq!(read(&device, 0x038), 64);
    assert_eq!(read(&device, 0x080), 0x4010_0000);
    // Misaligned descriptor table.
    write(&mut device, 0x030, 1);
    write(&mut device, 0x038, 8);
    write(&mut device, 0x080, 0x4010_0008);
    let effects = write(&mut device, 0x044, 1);
    assert!(matches!(
        effects.queue_error,
        Some((1, VirtqueueError::MisalignedArea { .. }))
    ));
}

#[test]
fn bad_accesses_are_refused() {
    let mut device = device();
    assert_eq!(
        device.read(0x070, 2),
        Err(VirtioMmioAccessError::ControlRegisterWidth {
            offset: 0x70,
            width: 2
        })
    );
    assert_eq!(
        device.write(0x071, 1, 0),
        Err(VirtioMmioAccessError::ControlRegisterWidth {
            offset: 0x71,
            width: 1
        })
    );
    assert_eq!(
        device.read(0x102, 4),
        Err(VirtioMmioAccessError::Misaligned {
            offset: 0x102,
            width: 4
        })
    );
    assert_eq!(
        device.read(0x200, 4),
        Err(VirtioMmioAccessError::OutOfRange { offset: 0x200 })
    );
    assert_eq!(
        device.read(0x100, 3),
        Err(VirtioMmioAccessError::UnsupportedWidth {
            offset: 0x100,
            width: 3
        })
    );
    // Config writes are ignored; reserved registers read as zero.
    device.write(0x100, 4, 99).unwrap();
    assert_eq!(device.read(0x100, 8), Ok(GUEST_CID));
    assert_eq!(read(&device, 0x0C0), 0);
    // A queue select far beyond the queues touches nothing.
    write(&mut device, 0x030, u32::MAX);
    write(&mut device, 0x038, 8);
    assert_eq!(write(&mut device, 0x044, 1).queue_error, None);
    assert_eq!(read(&device, 0x044), 0);
}

//! Tests of the split virtqueue walk: a well-behaved driver, and each kind of malformed queue.

use super::*;
use crate::channel::test_support::*;

const QUEUE_BASE: u64 = RAM_BASE + 0x1000;
const DATA: u64 = RAM_BASE + 0x8000;

fn setup(size: u16) -> (FakeGuestMemory, DriverQueue, Virtqueue) {
    let memory = FakeGuestMemory::new();
    let driver = DriverQueue::new(QUEUE_BASE, size);
    let queue = Virtqueue::new(driver.layout).unwrap();
    (memory, driver, queue)
}

#[test]
fn empty_queue_has_nothing() {
    let (memory, _, mut queue) = setup(8);
    assert_eq!(queue.available_count(&memory), Ok(0));
    assert!(queue.pop(&memory).unwrap().is_none());
}

#[test]
fn chain_buffers_are_split_into_readable_and_writable() {
    let (memory, mut driver, mut queue) = setup(8);
    memory.write(GuestAddress(DATA), b"hello, ").unwrap();
    memory.write(GuestAddress(DATA + 0x100), b"device").unwrap();
    let head = driver.add_chain(
        &memory,
        &[
            (DATA, 7, false),
            (DATA + 0x100, 6, false),
            (DATA + 0x200, 4, true),
            (DATA + 0x300, 8, true),
        ],
    );
    let chain = queue.pop(&memory).unwrap().unwrap();
    assert_eq!(chain.head(), head);
    assert_eq!(chain.readable().len(), 2);
    assert_eq!(chain.writable().len(), 2);
    assert_eq!(chain.readable_length(), 13);
    assert_eq!(chain.writable_length(), 12);
    let mut text = [0; 20];
    assert_eq!(chain.read(&memory, 0, &mut text), Ok(13));
    assert_eq!(&text[..13], b"hello, device");
    let mut part = [0; 5];
    assert_eq!(chain.read(&memory, 5, &mut part), Ok(5));
    assert_eq!(&part, b", dev");
    // The write spans both writable buffers and stops at their end.
    assert_eq!(chain.write(&memory, 2, b"0123456789abcdef"), Ok(10));
    assert_eq!(memory.bytes(DATA + 0x202, 2), b"01");
    assert_eq!(memory.bytes(DATA + 0x300, 8), b"23456789");
    queue.push_used(&memory, chain.head(), 12).unwrap();
    assert_eq!(driver.take_used(&memory), vec![(u32::from(head), 12)]);
    assert!(queue.pop(&memory).unwrap().is_none());
}

#[test]
fn indices_wrap_around_the_ring_and_sixteen_bits() {
    let (memory, mut driver, mut queue) = setup(4);
    for round in 0..70_000u32 {
        let head = driver.add_chain(&memory, &[(DATA, 16, true)]);
        let chain = queue.pop(&memory).unwrap().unwrap();
        assert_eq!(chain.head(), head);
        queue.push_used(&memory, head, round % 17).unwrap();
        assert_eq!(
            driver.take_used(&memory),
            vec![(u32::from(head), round % 17)]
        );
    }
}

#[test]
fn a_full_queue_of_chains_is_taken() {
    let (memory, mut driver, mut queue) = setup(4);
    for _ in 0..4 {
        driver.add_chain(&memory, &[(DATA, 16, false)]);
    }
    assert_eq!(queue.available_count(&memory), Ok(4));
    for _ in 0..4 {
        assert!(queue.pop(&memory).unwrap().is_some());
    }
    assert!(queue.pop(&memory).unwrap().is_none());
}

#[test]
fn interrupt_follows_the_no_interrupt_flag() {
    let (memory, driver, queue) = setup(4);
    assert_eq!(queue.should_interrupt(&memory), Ok(true));
    driver.suppress_interrupts(&memory, true);
    assert_eq!(queue.should_interrupt(&memory), Ok(false));
}

#[test]
fn bad_sizes_and_alignments_are_refused() {
    let layout = DriverQueue::new(QUEUE_BASE, 8).layout;
    for size in [0, 3, 512] {
        assert_eq!(
            Virtqueue::new(QueueLayout { size, ..layout }),
            Err(VirtqueueError::BadQueueSize { size })
        );
    }
    let misaligned = [
        QueueLayout {
            descriptor_table: GuestAddress(QUEUE_BASE + 8),
            ..layout
        },
        QueueLayout {
            available_ring: GuestAddress(layout.available_ring.0 + 1),
            ..layout
        },
        QueueLayout {
            used_ring: GuestAddress(layout.used_ring.0 + 2),
            ..layout
        },
    ];
    for layout in misaligned {
        assert!(matches!(
            Virtqueue::new(layout),
            Err(VirtqueueError::MisalignedArea { .. })
        ));
    }
}

#[test]
fn rings_outside_guest_ram_are_refused() {
    let memory = FakeGuestMemory::new();
    let driver = DriverQueue::new(RAM_BASE + RAM_SIZE - 0x10, 8);
    let mut queue = Virtqueue::new(driver.layout).unwrap();
    assert!(matches!(
        queue.pop(&memory),
        Err(VirtqueueError::AreaOutsideGuestRam {
            area: QueueArea::AvailableRing,
            ..
        })
    ));
    let mut layout = driver.layout;
    layout.used_ring = GuestAddress(u64::MAX - 3);
    let mut queue = Virtqueue::new(layout).unwrap();
    assert!(matches!(
        queue.push_used(&memory, 0, 0),
        Err(VirtqueueError::AreaOutsideGuestRam {
            area: QueueArea::UsedRing,
            ..
        })
    ));
}

#[test]
fn buffers_outside_guest_ram_are_refused() {
    for (address, length) in [
        (RAM_BASE - 0x10, 0x20),
        (RAM_BASE + RAM_SIZE - 0x10, 0x11),
        (0x0900_0000, 4),
        (u64::MAX - 4, 0x10),
    ] {
        let (memory, mut driver, mut queue) = setup(8);
        driver.add_chain(&memory, &[(DATA, 16, false), (address, length, true)]);
        assert_eq!(
            queue.pop(&memory).unwrap_err(),
            VirtqueueError::BufferOutsideGuestRam {
                descriptor: 1,
                address: GuestAddress(address),
                length
            }
        );
    }
}

#[test]
fn looping_chains_are_refused() {
    let (memory, mut driver, mut queue) = setup(8);
    let descriptor = |next| RawDescriptor {
        address: DATA,
        length: 8,
        flags: NEXT,
        next,
    };
    driver.write_descriptor(&memory, 2, descriptor(5));
    driver.write_descriptor(&memory, 5, descriptor(2));
    driver.make_available(&memory, 2);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::ChainLoops {
            head: 2,
            descriptor: 2
        }
    );
    // A descriptor that chains to itself.
    let (memory, mut driver, mut queue) = setup(8);
    driver.write_descriptor(&memory, 0, descriptor(0));
    driver.make_available(&memory, 0);
    assert!(matches!(
        queue.pop(&memory),
        Err(VirtqueueError::ChainLoops { .. })
    ));
}

#[test]
fn chains_longer_than_the_limit_are_refused() {
    let (memory, mut driver, mut queue) = setup(64);
    let buffers = vec![(DATA, 4, false); MAX_CHAIN_LENGTH + 1];
    driver.add_chain(&memory, &buffers);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::ChainTooLong {
            head: 0,
            limit: MAX_CHAIN_LENGTH
        }
    );
    // Exactly the limit passes.
    let (memory, mut driver, mut queue) = setup(64);
    driver.add_chain(&memory, &vec![(DATA, 4, false); MAX_CHAIN_LENGTH]);
    assert_eq!(
        queue.pop(&memory).unwrap().unwrap().readable().len(),
        MAX_CHAIN_LENGTH
    );
}

#[test]
fn indices_out_of_range_are_refused() {
    let (memory, mut driver, mut queue) = setup(8);
    driver.make_available(&memory, 8);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::HeadOutOfRange { head: 8, size: 8 }
    );
    let (memory, mut driver, mut queue) = setup(8);
    driver.write_descriptor(
        &memory,
        0,
        RawDescriptor {
            address: DATA,
            length: 8,
            flags: NEXT,
            next: 0xFFFF,
        },
    );
    driver.make_available(&memory, 0);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::NextOutOfRange {
            descriptor: 0,
            next: 0xFFFF,
            size: 8
        }
    );
}

#[test]
fn available_index_jumps_are_refused() {
    let (memory, driver, mut queue) = setup(8);
    memory.write_u16(driver.layout.available_ring.0 + 2, 9);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::AvailableIndexJump {
            last: 0,
            found: 9,
            size: 8
        }
    );
    // Going backwards is a jump too (by 65535).
    memory.write_u16(driver.layout.available_ring.0 + 2, 0xFFFF);
    assert!(matches!(
        queue.pop(&memory),
        Err(VirtqueueError::AvailableIndexJump { .. })
    ));
}

#[test]
fn indirect_descriptors_are_refused() {
    let (memory, mut driver, mut queue) = setup(8);
    driver.write_descriptor(
        &memory,
        3,
        RawDescriptor {
            address: DATA,
            length: 32,
            flags: INDIRECT,
            next: 0,
        },
    );
    driver.make_available(&memory, 3);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::IndirectDescriptor { descriptor: 3 }
    );
}

#[test]
fn readable_after_writable_is_refused() {
    let (memory, mut driver, mut queue) = setup(8);
    driver.add_chain(&memory, &[(DATA, 8, true), (DATA + 8, 8, false)]);
    assert_eq!(
        queue.pop(&memory).unwrap_err(),
        VirtqueueError::WritableBeforeReadable { descriptor: 1 }
    );
}

#[test]
fn a_chain_changed_after_it_was_taken_is_not_reread() {
    let (memory, mut driver, mut queue) = setup(8);
    driver.add_chain(&memory, &[(DATA, 8, true)]);
    let chain = queue.pop(&memory).unwrap().unwrap();
    // The driver now points the descriptor outside its RAM: the chain already taken keeps the
    // checked copy.
    driver.write_descriptor(
        &memory,
        0,
        RawDescriptor {
            address: 0x1000,
            length: 8,
            flags: WRITE,
            next: 0,
        },
    );
    assert_eq!(chain.write(&memory, 0, b"12345678"), Ok(8));
    assert_eq!(memory.bytes(DATA, 8), b"12345678");
}

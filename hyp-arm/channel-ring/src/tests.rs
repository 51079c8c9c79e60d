//! Tests of the channel format: both ends over atomic words, and a hostile peer scribbling on
//! the header and indices.

use super::*;
use std::sync::atomic::AtomicU32;

/// The smallest region that carries largest messages: each ring gets 8 KiB.
const SMALL_REGION: usize = HEADER_SIZE + 2 * 8192;

fn region(bytes: usize) -> Vec<AtomicU32> {
    (0..bytes / 4).map(|_| AtomicU32::new(0)).collect()
}

/// A channel formatted in `words`, and both sides' ends.
fn channel(words: &[AtomicU32]) -> (Channel, [Producer; 2], [Consumer; 2]) {
    let memory = AtomicWordMemory::new(words);
    let channel = Channel::initialize(&memory, MAX_MESSAGE).unwrap();
    let backend = Channel::attach(&memory).unwrap();
    assert_eq!(channel, backend);
    let (hypervisor_producer, hypervisor_consumer) =
        channel.endpoints(Side::Hypervisor, &memory).unwrap();
    let (backend_producer, backend_consumer) = backend.endpoints(Side::Backend, &memory).unwrap();
    (
        channel,
        [hypervisor_producer, backend_producer],
        [hypervisor_consumer, backend_consumer],
    )
}

/// A message whose bytes say which one it is.
fn message(number: usize, length: usize) -> Vec<u8> {
    (0..length)
        .map(|index| (number * 7 + index) as u8)
        .collect()
}

fn receive(consumer: &mut Consumer, memory: &AtomicWordMemory) -> Option<Vec<u8>> {
    let mut buffer = vec![0; MAX_MESSAGE];
    let length = consumer.receive(memory, &mut buffer).unwrap()?;
    buffer.truncate(length);
    Some(buffer)
}

#[test]
fn default_region_gets_16_kib_rings() {
    let words = region(DEFAULT_REGION_SIZE);
    let (channel, _, _) = channel(&words);
    assert_eq!(channel.ring_size(), 16384);
    assert_eq!(channel.max_message(), 4140);
    let memory = AtomicWordMemory::new(&words);
    assert_eq!(memory.load_u32_acquire(0), MAGIC);
    let mut first = [0; 4];
    memory.read_bytes(0, &mut first);
    assert_eq!(&first, b"HYCH");
}

#[test]
fn region_too_small_or_message_too_large_is_refused() {
    let words = region(SMALL_REGION - 8);
    let memory = AtomicWordMemory::new(&words);
    assert_eq!(
        Channel::initialize(&memory, MAX_MESSAGE),
        Err(RingError::RegionTooSmall {
            size: SMALL_REGION - 8,
            needed: SMALL_REGION
        })
    );
    assert!(matches!(
        Channel::initialize(&memory, MAX_MESSAGE + 1),
        Err(RingError::UnsupportedMaxMessage { .. })
    ));
    // A smaller largest message makes do with a smaller region.
    assert!(Channel::initialize(&memory, 1024).is_ok());
}

#[test]
fn empty_ring_has_nothing() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, producers, mut consumers) = channel(&words);
    assert_eq!(consumers[0].next(&memory), Ok(None));
    assert_eq!(consumers[1].next(&memory), Ok(None));
    assert_eq!(producers[0].free_space(&memory), Ok(8192));
}

#[test]
fn messages_cross_in_both_directions() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].send(&memory, b"request").unwrap();
    producers[1].send(&memory, b"response!").unwrap();
    // Each side reads what the other sent, not its own.
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), b"request");
    assert_eq!(receive(&mut consumers[0], &memory).unwrap(), b"response!");
    assert_eq!(receive(&mut consumers[0], &memory), None);
    assert_eq!(receive(&mut consumers[1], &memory), None);
}

#[test]
fn zero_length_and_largest_messages_pass_oversized_is_refused() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].send(&memory, &[]).unwrap();
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), b"");
    let largest = message(1, MAX_MESSAGE);
    producers[0].send(&memory, &largest).unwrap();
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), largest);
    let before = producers[0].free_space(&memory).unwrap();
    assert_eq!(
        producers[0].send(&memory, &message(2, MAX_MESSAGE + 1)),
        Err(RingError::MessageTooLarge {
            ring: Direction::HypervisorToBackend,
            length: MAX_MESSAGE + 1,
            max: MAX_MESSAGE
        })
    );
    assert_eq!(producers[0].free_space(&memory).unwrap(), before);
    assert_eq!(consumers[1].next(&memory), Ok(None));
}

#[test]
fn wraps_around_the_end_many_times() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    // Odd lengths so frames land everywhere, including payloads split by the end.
    let mut sent = 0;
    for number in 0..500 {
        let length = (number * 37) % 3000 + 1;
        producers[0]
            .send(&memory, &message(number, length))
            .unwrap();
        sent += frame_size(length);
        assert_eq!(
            receive(&mut consumers[1], &memory).unwrap(),
            message(number, length),
            "message {number}"
        );
    }
    assert!(sent > 50 * 8192, "the ring wrapped many times");
}

#[test]
fn full_ring_refuses_until_the_consumer_frees_space() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    // 8192 / frame_size(1000) = 8192 / 1008 = 8 messages, 128 bytes left.
    for number in 0..8 {
        producers[0].send(&memory, &message(number, 1000)).unwrap();
    }
    assert_eq!(producers[0].free_space(&memory), Ok(128));
    assert_eq!(producers[0].has_room_for(&memory, 120), Ok(true));
    assert_eq!(producers[0].has_room_for(&memory, 121), Ok(false));
    assert_eq!(
        producers[0].send(&memory, &message(8, 1000)),
        Err(RingError::Full {
            ring: Direction::HypervisorToBackend,
            needed: 1008,
            free: 128
        })
    );
    assert_eq!(
        receive(&mut consumers[1], &memory).unwrap(),
        message(0, 1000)
    );
    producers[0].send(&memory, &message(8, 1000)).unwrap();
    for number in 1..9 {
        assert_eq!(
            receive(&mut consumers[1], &memory).unwrap(),
            message(number, 1000)
        );
    }
    assert_eq!(receive(&mut consumers[1], &memory), None);
}

#[test]
fn messages_are_built_and_read_in_pieces() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].begin(&memory, 10).unwrap();
    producers[0].write(&memory, 4, b"world!").unwrap();
    assert_eq!(
        consumers[1].next(&memory),
        Ok(None),
        "not visible before commit"
    );
    producers[0].write(&memory, 0, b"hey ").unwrap();
    assert!(matches!(
        producers[0].write(&memory, 8, b"abc"),
        Err(RingError::OutsideMessage { .. })
    ));
    assert!(matches!(
        producers[0].begin(&memory, 3),
        Err(RingError::MessageInProgress { .. })
    ));
    producers[0].commit(&memory).unwrap();
    assert_eq!(consumers[1].next(&memory), Ok(Some(10)));
    let mut part = [0; 5];
    consumers[1].read(&memory, 4, &mut part).unwrap();
    assert_eq!(&part, b"world");
    assert!(matches!(
        consumers[1].read(&memory, 6, &mut part),
        Err(RingError::OutsideMessage { .. })
    ));
    let mut small = [0; 4];
    assert!(matches!(
        consumers[1].receive(&memory, &mut small),
        Err(RingError::BufferTooSmall { length: 10, .. })
    ));
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), b"hey world!");
    assert!(matches!(
        consumers[1].release(&memory),
        Err(RingError::NoMessageInProgress { .. })
    ));
    assert!(matches!(
        producers[0].commit(&memory),
        Err(RingError::NoMessageInProgress { .. })
    ));
    producers[0].begin(&memory, 3).unwrap();
    producers[0].abandon();
    assert_eq!(consumers[1].next(&memory), Ok(None));
}

/// Offsets of the indices (docs/CHANNELS.md).
const TO_BACKEND_PRODUCED: usize = 0x40;
const TO_BACKEND_CONSUMED: usize = 0x80;

#[test]
fn corrupt_indices_are_detected() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].send(&memory, b"one").unwrap();
    // A consumer sees a producer index that is misaligned, or more than a ring ahead.
    for produced in [12, 8192 + 8, u32::MAX - 7] {
        memory.store_u32_release(TO_BACKEND_PRODUCED, produced);
        assert!(
            matches!(
                consumers[1].next(&memory),
                Err(RingError::CorruptIndices { .. })
            ),
            "produced {produced:#x}"
        );
    }
    // A producer sees a consumer index that is misaligned or ahead of it.
    for consumed in [4, 24, 0x8000_0000] {
        memory.store_u32_release(TO_BACKEND_CONSUMED, consumed);
        assert!(
            matches!(
                producers[0].send(&memory, b"two"),
                Err(RingError::CorruptIndices { .. })
            ),
            "consumed {consumed:#x}"
        );
    }
    // Attaching to a ring with corrupt indices fails too.
    let channel = Channel::attach(&memory).unwrap();
    assert!(matches!(
        channel.endpoints(Side::Backend, &memory),
        Err(RingError::CorruptIndices { .. })
    ));
}

#[test]
fn peer_overwriting_our_own_index_changes_nothing() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].send(&memory, b"first").unwrap();
    // The consumer scribbles on the producer's index: the producer does not read it back.
    memory.store_u32_release(TO_BACKEND_PRODUCED, 0);
    producers[0].send(&memory, b"second").unwrap();
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), b"first");
    assert_eq!(receive(&mut consumers[1], &memory).unwrap(), b"second");
}

#[test]
fn corrupt_frames_are_detected() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    producers[0].send(&memory, b"message").unwrap();
    let frame = HEADER_SIZE;
    // Longer than what was published (16 bytes).
    memory.store_u32_release(frame, 9);
    assert_eq!(
        consumers[1].next(&memory),
        Err(RingError::CorruptFrame {
            ring: Direction::HypervisorToBackend,
            length: 9,
            available: 16
        })
    );
    // Longer than the largest message, with enough published.
    memory.store_u32_release(TO_BACKEND_PRODUCED, 8192);
    memory.store_u32_release(frame, MAX_MESSAGE as u32 + 1);
    assert!(matches!(
        consumers[1].next(&memory),
        Err(RingError::CorruptFrame { .. })
    ));
    memory.store_u32_release(frame, u32::MAX);
    assert!(matches!(
        consumers[1].next(&memory),
        Err(RingError::CorruptFrame { .. })
    ));
}

#[test]
fn corrupt_headers_are_refused() {
    let words = region(DEFAULT_REGION_SIZE);
    let memory = AtomicWordMemory::new(&words);
    let fresh = || {
        Channel::initialize(&memory, MAX_MESSAGE).unwrap();
    };
    /// A header field, the value a hostile peer writes there, and the error expected.
    type Case = (usize, u32, fn(RingError) -> bool);
    let cases: [Case; 9] = [
        (0x00, 0, |error| {
            matches!(error, RingError::BadMagic { found: 0 })
        }),
        (0x04, 2, |error| {
            matches!(error, RingError::UnsupportedVersion { found: 2 })
        }),
        (0x08, 0x20000, |error| {
            matches!(error, RingError::RegionSizeMismatch { .. })
        }),
        (0x0C, 0x3000, |error| {
            matches!(error, RingError::BadRingSize { .. })
        }),
        (0x0C, 0x8000, |error| {
            matches!(error, RingError::BadRingSize { .. })
        }),
        (0x0C, 0x1000, |error| {
            matches!(error, RingError::BadRingSize { .. })
        }),
        (0x0C, 0x8000_0000, |error| {
            matches!(error, RingError::BadRingSize { .. })
        }),
        (0x10, 0, |error| {
            matches!(error, RingError::BadMaxMessage { .. })
        }),
        (0x14, 0x100, |error| {
            matches!(error, RingError::BadDataOffset { .. })
        }),
    ];
    for (offset, value, expected) in cases {
        fresh();
        memory.store_u32_release(offset, value);
        let error = Channel::attach(&memory).unwrap_err();
        assert!(expected(error), "field {offset:#x} = {value:#x}: {error}");
    }
    fresh();
    memory.store_u32_release(0x10, MAX_MESSAGE as u32 + 1);
    assert!(matches!(
        Channel::attach(&memory),
        Err(RingError::BadMaxMessage { .. })
    ));
}

#[test]
fn a_backend_that_attaches_again_resumes_where_it_was() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (channel, mut producers, mut consumers) = channel(&words);
    for number in 0..3 {
        producers[0].send(&memory, &message(number, 100)).unwrap();
    }
    assert_eq!(
        receive(&mut consumers[1], &memory).unwrap(),
        message(0, 100)
    );
    let (_, mut again) = channel.endpoints(Side::Backend, &memory).unwrap();
    assert_eq!(receive(&mut again, &memory).unwrap(), message(1, 100));
}

#[test]
fn producer_and_consumer_interleave_step_by_step() {
    let words = region(SMALL_REGION);
    let memory = AtomicWordMemory::new(&words);
    let (_, mut producers, mut consumers) = channel(&words);
    let mut next_sent = 0;
    let mut next_received = 0;
    // The producer sends while it can, the consumer takes one or two; lengths vary.
    for step in 0..2000 {
        let length = (step * 131) % 2000;
        match producers[1].send(&memory, &message(next_sent, length)) {
            Ok(()) => next_sent += 1,
            Err(RingError::Full { .. }) => {}
            Err(error) => panic!("step {step}: {error}"),
        }
        for _ in 0..(step % 2 + 1) {
            if let Some(received) = receive(&mut consumers[0], &memory) {
                assert_eq!(received, message(next_received, received.len()));
                next_received += 1;
            }
        }
    }
    assert!(next_received > 1000);
}

#[test]
fn producer_and_consumer_threads() {
    let words = region(SMALL_REGION);
    let (_, [mut producer, _], [_, mut consumer]) = channel(&words);
    const COUNT: usize = 5000;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let memory = AtomicWordMemory::new(&words);
            let mut number = 0;
            while number < COUNT {
                match producer.send(&memory, &message(number, number % 1500)) {
                    Ok(()) => number += 1,
                    Err(RingError::Full { .. }) => std::thread::yield_now(),
                    Err(error) => panic!("{error}"),
                }
            }
        });
        let memory = AtomicWordMemory::new(&words);
        let mut number = 0;
        while number < COUNT {
            match receive(&mut consumer, &memory) {
                Some(received) => {
                    assert_eq!(received, message(number, number % 1500));
                    number += 1;
                }
                None => std::thread::yield_now(),
            }
        }
    });
}

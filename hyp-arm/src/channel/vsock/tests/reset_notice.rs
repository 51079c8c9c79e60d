//! The empty message that tells the backend the guest reset its device.

use hyp_arm_channel_ring::{
    frame_size, FRAME_HEADER_SIZE, MAX_MESSAGE, MAX_PAYLOAD, VSOCK_HEADER_SIZE,
};

use super::*;

impl Harness {
    fn send_reset_notice(&mut self) -> Result<bool, VsockError> {
        let channel = AtomicWordMemory::new(&self.words);
        self.transport.send_reset_notice(&channel)
    }

    fn ring_size(&self) -> usize {
        let channel = AtomicWordMemory::new(&self.words);
        Channel::attach(&channel).unwrap().ring_size()
    }
}

/// A connection request crosses, so the backend holds guest state.
fn connect(harness: &mut Harness) {
    harness.transmit(&from_guest(REQUEST, 0), &[]);
    harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(harness.backend_receive().unwrap().len(), VSOCK_HEADER_SIZE);
}

/// Queues a guest packet whose ring frame is `frame` bytes (a multiple of 8).
fn transmit_frame(harness: &mut Harness, frame: usize) {
    let payload = (frame - FRAME_HEADER_SIZE - VSOCK_HEADER_SIZE).min(MAX_PAYLOAD);
    assert_eq!(frame_size(VSOCK_HEADER_SIZE + payload), frame);
    harness.transmit(&from_guest(READ_WRITE, payload), &vec![7; payload]);
}

#[test]
fn a_driver_reset_after_traffic_sends_one_empty_message() {
    let mut harness = Harness::new();
    connect(&mut harness);
    assert!(harness.write(0x070, 0).reset);
    assert_eq!(harness.send_reset_notice(), Ok(true));
    assert_eq!(harness.send_reset_notice(), Ok(false), "only once");
    assert_eq!(harness.backend_receive(), Some(Vec::new()));
    assert_eq!(harness.backend_receive(), None);
}

#[test]
fn a_reset_before_any_traffic_sends_nothing() {
    let mut harness = Harness::new();
    harness.write(0x070, 0);
    harness.transport.reset();
    assert_eq!(harness.send_reset_notice(), Ok(false));
    assert_eq!(harness.backend_receive(), None);
}

#[test]
fn a_domain_restart_after_a_driver_reset_is_one_notice() {
    let mut harness = Harness::new();
    connect(&mut harness);
    harness.write(0x070, 0);
    harness.transport.reset();
    assert_eq!(harness.send_reset_notice(), Ok(true));
    assert_eq!(harness.send_reset_notice(), Ok(false));
    assert_eq!(harness.backend_receive(), Some(Vec::new()));
    assert_eq!(harness.backend_receive(), None);
}

#[test]
fn the_notice_waits_for_ring_room_and_goes_before_the_next_packets() {
    let mut harness = Harness::new();
    // Fill the ring exactly: three packets, then a largest one that just fits.
    let largest = frame_size(MAX_MESSAGE);
    let rest = harness.ring_size() - largest;
    let first = rest / 3 / 8 * 8;
    for frame in [first, first, rest - 2 * first, largest] {
        transmit_frame(&mut harness, frame);
    }
    assert_eq!(harness.notify(TRANSMIT_QUEUE).unwrap().rejected, None);
    assert_eq!(harness.queues[1].take_used(&harness.guest).len(), 4);
    // The guest resets and probes again; the notice finds no room, and the next request
    // waits behind it.
    harness.write(0x070, 0);
    assert_eq!(harness.send_reset_notice(), Ok(false));
    harness.next_transmit_buffer = TRANSMIT_BUFFERS;
    harness.probe();
    harness.transmit(&from_guest(REQUEST, 0), &[]);
    harness.notify(TRANSMIT_QUEUE).unwrap();
    assert!(harness.queues[1].take_used(&harness.guest).is_empty());
    // The backend drains the ring and rings the doorbell: the notice, then the request.
    for _ in 0..4 {
        assert!(harness.backend_receive().is_some());
    }
    assert!(harness.doorbell().unwrap().notify_backend);
    assert_eq!(harness.backend_receive(), Some(Vec::new()));
    assert_eq!(
        harness.backend_receive().unwrap().len(),
        VSOCK_HEADER_SIZE,
        "the request"
    );
    assert_eq!(harness.queues[1].take_used(&harness.guest).len(), 1);
}

//! When the RST that refuses a guest packet reaches the guest: at the transmit notify itself, as
//! Linux's driver (and the fault-injection guest, `images/hostile` in `vsock-faults` mode)
//! expect, not only at the next receive notify or backend doorbell.

use super::*;

#[test]
fn refused_packet_is_answered_at_the_transmit_notify() {
    let mut harness = Harness::new();
    let mut wrong_destination = from_guest(REQUEST, 0);
    wrong_destination.bytes[8] = 99;
    harness.transmit(&wrong_destination, &[]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(effects.rejected_count, 1);
    assert!(effects.interrupt);
    // No receive notify, no doorbell: the RST is already in a receive buffer.
    let received = harness.received();
    assert_eq!(received.len(), 1);
    let reset = PacketHeader {
        bytes: received[0].clone().try_into().unwrap(),
    };
    assert_eq!(reset.operation(), OPERATION_RESET);
    assert_eq!(reset.source_cid(), 99);
    assert_eq!(reset.destination_cid(), GUEST_CID);
    assert!(harness.backend_receive().is_none());
    assert!(harness.transport.device().is_live());
}

#[test]
fn refused_packet_reply_waits_for_a_receive_buffer() {
    let mut harness = Harness::new();
    // Use up the four receive buffers.
    for _ in 0..4 {
        harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    }
    harness.doorbell().unwrap();
    assert_eq!(harness.received().len(), 4);
    let mut bad_operation = from_guest(REQUEST, 0);
    bad_operation.bytes[30] = 99;
    harness.transmit(&bad_operation, &[]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(effects.rejected_count, 1);
    assert!(harness.received().is_empty());
    harness.add_receive_buffer(RECEIVE_BUFFERS, MAX_PACKET as u32);
    harness.notify(RECEIVE_QUEUE).unwrap();
    let received = harness.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0][30], OPERATION_RESET as u8);
    assert!(harness.transport.device().is_live());
}

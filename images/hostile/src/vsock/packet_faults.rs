//! Malformed vsock packets on a healthy device: hyp-arm must drop each (log it against this
//! domain), answer with an RST where the header names a sender it can trust (the guest's own
//! CID) and the packet is not itself an RST, send nothing back otherwise, and keep the device
//! running.

use super::device::Device;
use super::link::Link;
use super::packet::{operation, Header, HEADER_SIZE, MAX_PAYLOAD};
use super::{report_case, Failure, Tally};
use hyp_arm_keystore_protocol::{KEYSTORE_PORT, SECURE_DOMAIN_CID};

/// How long to wait for an RST, or to be sure none comes. hyp-arm answers during the transmit
/// notify; the wait covers a hypervisor that answers late (which the test should see as a
/// failure only if it never answers).
const REPLY_WAIT_MS: u64 = 200;
/// The first local port used; each case takes the next.
const FIRST_PORT: u32 = 40_000;

/// One case: how the packet differs from a well-formed REQUEST to the keystore, its length on
/// the queue, and whether an RST is due.
struct Case {
    name: &'static str,
    header: Header,
    /// Bytes of the chain (header included).
    length: usize,
    reply_due: bool,
}

/// Runs every case on a fresh device, counting them in `tally`.
pub fn run(device: &Device, tally: &mut Tally) -> Result<(), Failure> {
    let mut link = Link::open(device)?;
    let cid = link.cid;
    let request = |port: u32| {
        Header::stream(
            (cid, port),
            (u64::from(SECURE_DOMAIN_CID), KEYSTORE_PORT),
            operation::REQUEST,
        )
    };
    let mut cases = [
        Case {
            name: "wrong-source-cid",
            header: Header {
                source_cid: cid + 1,
                ..request(0)
            },
            length: HEADER_SIZE,
            reply_due: false,
        },
        Case {
            name: "wrong-destination-cid",
            header: Header {
                destination_cid: 99,
                ..request(0)
            },
            length: HEADER_SIZE,
            reply_due: true,
        },
        Case {
            name: "unknown-type",
            header: Header {
                packet_type: 2,
                ..request(0)
            },
            length: HEADER_SIZE,
            reply_due: true,
        },
        Case {
            name: "unknown-operation",
            header: Header {
                operation: 99,
                ..request(0)
            },
            length: HEADER_SIZE,
            reply_due: true,
        },
        Case {
            name: "length-above-buffer",
            header: Header {
                operation: operation::READ_WRITE,
                length: 100,
                ..request(0)
            },
            length: HEADER_SIZE + 20,
            reply_due: true,
        },
        Case {
            name: "length-below-buffer",
            header: Header {
                operation: operation::READ_WRITE,
                length: 8,
                ..request(0)
            },
            length: HEADER_SIZE + 20,
            reply_due: true,
        },
        Case {
            name: "oversized-payload",
            header: Header {
                operation: operation::READ_WRITE,
                length: (MAX_PAYLOAD + 4) as u32,
                ..request(0)
            },
            length: HEADER_SIZE + MAX_PAYLOAD + 4,
            reply_due: true,
        },
        Case {
            name: "shorter-than-header",
            header: request(0),
            length: 20,
            reply_due: false,
        },
        Case {
            name: "reset-to-wrong-destination",
            header: Header {
                destination_cid: 98,
                operation: operation::RESET,
                ..request(0)
            },
            length: HEADER_SIZE,
            reply_due: false,
        },
    ];
    for (index, case) in cases.iter_mut().enumerate() {
        case.header.source_port = FIRST_PORT + index as u32;
        let (replied, healthy) = run_case(&mut link, case)?;
        let refused = replied == case.reply_due && healthy;
        report_case(tally, case.name, refused, |line| {
            line.text(" reply=")
                .text(if replied { "rst" } else { "none" })
                .text(" expected=")
                .text(if case.reply_due { "rst" } else { "none" })
                .text(" healthy=")
                .text(if healthy { "yes" } else { "no" })
        });
    }
    Ok(())
}

/// Sends the case's packet; returns whether its RST came back and whether the device is still
/// healthy. Anything else received is a failure (nothing else is talking to this guest).
fn run_case(link: &mut Link, case: &Case) -> Result<(bool, bool), Failure> {
    let bytes = case.header.to_bytes();
    link.transmit(
        |index| bytes.get(index).copied().unwrap_or(index as u8),
        case.length,
    )?;
    let mut replied = false;
    while let Some(received) = link.receive(REPLY_WAIT_MS)? {
        let is_reply = received.header.is_reset_for(&case.header);
        link.recycle(received.buffer);
        if !is_reply || replied {
            return Err(Failure("a packet came back that answers nothing sent"));
        }
        replied = true;
    }
    Ok((replied, link.device.is_healthy()))
}

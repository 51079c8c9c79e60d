//! The keystore offered over the domain's channel to hyp-arm (docs/KEYSTORE.md, docs/CHANNELS.md):
//! the vsock server at CID 3 port 5555 reading and writing the channel's rings, woken by the
//! doorbell SPI hyp-arm raises, ringing hyp-arm back with CHANNEL_NOTIFY after it moved packets.
//!
//! Everything here runs in the main loop; the interrupt handler only records that the doorbell
//! rang ([`on_doorbell`]). The main loop then serves until the server reports nothing more.

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use hyp_arm_keystore_protocol::{KEYSTORE_PORT, SECURE_DOMAIN_CID};
use hyp_arm_secure_domain::keystore::{Keystore, KeystoreSession, BOARD_SECRET};
use hyp_arm_secure_domain::platform::{ChannelNode, ChannelNodeError, GicLayout};
use hyp_arm_secure_domain::translation::MapError;
use hyp_arm_secure_domain::vsock::channel::{ChannelTransport, TransportError};
use hyp_arm_secure_domain::vsock::VsockServer;

use crate::gic_spi::{self, SpiError};
use crate::hypercall;
use crate::say;
use crate::shared_memory::MappedRegion;

/// Polls (of up to 32 packets each) per wake-up before the main loop gets a turn: a guest
/// flooding the channel must not hold back the heartbeat.
const POLLS_PER_SERVE: usize = 8;

/// INTID of the doorbell, 0 before [`start`] (INTID 0, an SGI, is never enabled).
static DOORBELL_INTID: AtomicU32 = AtomicU32::new(0);
/// Set by the interrupt handler when the doorbell rang, cleared by the main loop before it
/// serves (plain load and store: one CPU, and the handler runs with interrupts masked).
static DOORBELL_RANG: AtomicBool = AtomicBool::new(false);

/// The vsock server: about 21 KiB, too large for the 16 KiB boot stack, so it is a `static`.
static SERVER: ServerCell = ServerCell {
    taken: AtomicBool::new(false),
    server: UnsafeCell::new(VsockServer::new(SECURE_DOMAIN_CID as u64, KEYSTORE_PORT)),
};

/// The server, handed out once.
struct ServerCell {
    taken: AtomicBool,
    server: UnsafeCell<VsockServer<KeystoreSession>>,
}

// SAFETY: only the main loop, on the domain's only CPU, calls `take_server`; the flag lets it hand out
// one reference to the server, ever.
unsafe impl Sync for ServerCell {}

/// The server, the first time; `None` afterwards.
fn take_server() -> Option<&'static mut VsockServer<KeystoreSession>> {
    if SERVER.taken.load(Ordering::Relaxed) {
        return None;
    }
    SERVER.taken.store(true, Ordering::Relaxed);
    // SAFETY: the first and only call that gets past the flag (see `Sync` above), so this is
    // the only reference to the server.
    Some(unsafe { &mut *SERVER.server.get() })
}

/// The doorbell's INTID (0 when there is none), for the interrupt handler.
pub fn doorbell_intid() -> u32 {
    DOORBELL_INTID.load(Ordering::Relaxed)
}

/// From the interrupt handler: hyp-arm put packets into the rings or made room in them.
pub fn on_doorbell() {
    DOORBELL_RANG.store(true, Ordering::Release);
}

/// Whether the doorbell rang since the last [`KeystoreChannel::serve`].
pub fn doorbell_rang() -> bool {
    DOORBELL_RANG.load(Ordering::Acquire)
}

/// Why the channel cannot carry the keystore.
#[derive(Clone, Copy, Debug)]
pub enum Unusable {
    Node(ChannelNodeError),
    Map(MapError),
    Transport(TransportError),
    Doorbell(SpiError),
    /// The keys could not be derived (HKDF refused a length; cannot happen with ours).
    Keystore,
    /// Only one channel carries the keystore.
    ServerTaken,
}

impl fmt::Display for Unusable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(error) => write!(formatter, "its device-tree node: {error}"),
            Self::Map(error) => write!(formatter, "{error}"),
            Self::Transport(error) => write!(formatter, "{error}"),
            Self::Doorbell(error) => write!(formatter, "its doorbell: {error}"),
            Self::Keystore => formatter.write_str("the keystore's keys could not be derived"),
            Self::ServerTaken => formatter.write_str("the vsock server serves another channel"),
        }
    }
}

/// A channel that cannot be used, by index.
#[derive(Clone, Copy, Debug)]
pub struct StartError {
    pub index: u32,
    pub reason: Unusable,
}

/// The keystore serving one channel.
pub struct KeystoreChannel {
    index: u32,
    transport: ChannelTransport<MappedRegion>,
    server: &'static mut VsockServer<KeystoreSession>,
    keystore: Keystore,
    /// Whether the transport's failure was reported (it is, once).
    failure_reported: bool,
    /// CHANNEL_NOTIFY calls that did not return 0.
    notify_failures: u64,
    /// The statistics line last printed, to print only changes.
    last_requests: u64,
}

/// Starts the keystore on `channel` (mapped by the caller), or says why not: prints one line
/// either way, and returns the keystore if it is listening.
///
/// # Safety
///
/// When `channel` is `Some(Ok(node))`, `node.region` must be mapped as Normal shared memory
/// for the rest of the program and used by nothing else; `gic` must be set up as for
/// [`gic_spi::enable_shared_interrupt`].
pub unsafe fn offer(
    channel: Option<Result<ChannelNode, StartError>>,
    gic: GicLayout,
    boot_counter: u64,
) -> Option<KeystoreChannel> {
    let result = match channel {
        None => {
            say!("secure-domain: no channel; keystore not offered");
            return None;
        }
        // SAFETY: the caller's guarantees, passed on.
        Some(Ok(node)) => unsafe { start(node, gic, boot_counter) },
        Some(Err(error)) => Err(error),
    };
    match result {
        Ok(keystore) => Some(keystore),
        Err(StartError { index, reason }) => {
            say!("secure-domain: channel {index} unusable: {reason}; keystore not offered");
            None
        }
    }
}

/// # Safety
///
/// As [`offer`]'s for `node`.
unsafe fn start(
    node: ChannelNode,
    gic: GicLayout,
    boot_counter: u64,
) -> Result<KeystoreChannel, StartError> {
    let index = node.index;
    let error = |reason| StartError { index, reason };
    // The region is inside the 39-bit address space the caller mapped, so it fits a usize.
    let (base, size) = (node.region.base as usize, node.region.size as usize);
    // SAFETY: the caller's mapping; the device-tree code checked the base is page aligned.
    let memory = unsafe { MappedRegion::new(base, size) };
    let transport =
        ChannelTransport::attach(memory).map_err(|reason| error(Unusable::Transport(reason)))?;
    let keystore =
        Keystore::new(&BOARD_SECRET, boot_counter).map_err(|_| error(Unusable::Keystore))?;
    let server = take_server().ok_or(error(Unusable::ServerTaken))?;
    DOORBELL_INTID.store(node.doorbell_intid, Ordering::Relaxed);
    // SAFETY: the caller's guarantee about `gic`.
    unsafe { gic_spi::enable_shared_interrupt(gic, node.doorbell_intid) }
        .map_err(|reason| error(Unusable::Doorbell(reason)))?;
    say!(
        "secure-domain: keystore listening on vsock port {KEYSTORE_PORT} (channel at {:#x}, \
         doorbell INTID {})",
        node.region.base,
        node.doorbell_intid
    );
    Ok(KeystoreChannel {
        index,
        transport,
        server,
        keystore,
        failure_reported: false,
        notify_failures: 0,
        last_requests: 0,
    })
}

impl KeystoreChannel {
    /// Handles what the rings hold and sends what is ready, then rings hyp-arm if anything
    /// moved. Returns whether packets may be left (serve again before sleeping).
    pub fn serve(&mut self) -> bool {
        // Cleared before serving: a doorbell from now on sets it again and brings us back.
        DOORBELL_RANG.store(false, Ordering::Release);
        let activity = self
            .transport
            .serve(self.server, &mut self.keystore, POLLS_PER_SERVE);
        match activity {
            Ok(activity) => {
                if activity.peer_resets > 0 {
                    say!("secure-domain: the guest reset its vsock device; its connections are forgotten");
                }
                if activity.needs_notify() {
                    self.notify();
                }
                activity.more
            }
            Err(error) => {
                if !self.failure_reported {
                    self.failure_reported = true;
                    say!(
                        "secure-domain: channel {} broken: {error}; keystore withdrawn",
                        self.index
                    );
                }
                false
            }
        }
    }

    /// Once a second: stirs the timer into the random generator and reports new activity.
    pub fn on_heartbeat(&mut self, counter: u64) {
        self.keystore.mix_entropy(counter);
        let requests = self.keystore.statistics().requests;
        if requests != self.last_requests {
            self.last_requests = requests;
            let keystore = self.keystore.statistics();
            let vsock = self.server.statistics();
            say!(
                "secure-domain: keystore: {} requests ({} refused), {} connections, {} packets \
                 refused, {} notify failures",
                keystore.requests,
                keystore.refused,
                vsock.connections_accepted,
                vsock.packets_refused,
                self.notify_failures
            );
        }
    }

    fn notify(&mut self) {
        let status = hypercall::channel_notify(self.index);
        if status != 0 {
            if self.notify_failures == 0 {
                say!(
                    "secure-domain: CHANNEL_NOTIFY for channel {} returned {status}",
                    self.index
                );
            }
            self.notify_failures += 1;
        }
    }
}

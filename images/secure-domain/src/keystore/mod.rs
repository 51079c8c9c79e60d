//! The keystore service (docs/KEYSTORE.md): answers the requests of `hyp-arm-keystore-protocol`
//! that arrive on its vsock connections: the Ed25519 public key, signatures, HMAC-SHA256 with
//! named keys, random bytes and a monotonic counter. Every key is derived from the device key
//! ([`device_key`]), which never leaves the secure domain.
//!
//! The counter lives in this service's memory, which survives the Android-style guest's reboots
//! because the secure domain keeps running (it does not survive a reboot of the machine).
//!
//! Random bytes come from a ChaCha20 generator seeded from the device key, the counter and the
//! generic timer at boot, reseeded with the timer whenever the firmware calls
//! [`Keystore::mix_entropy`]. That is weak: QEMU virt gives the secure domain no hardware entropy
//! source (no RNDR, and virtio-rng would belong to the other domain), the seed's only secret is
//! the device key, and the timer adds a few bits an observer of boot timing can guess. Good
//! enough to be unpredictable to a guest that does not know the device key; not a substitute for
//! a true entropy source on real hardware.

pub mod device_key;
#[cfg(test)]
mod tests;

use ed25519_dalek::{Signer, SigningKey};
use hyp_arm_keystore_protocol::{
    split_frame, FrameHeader, Request, Response, Status, COUNTER_SIZE, FRAME_HEADER_SIZE, MAC_SIZE,
    MAX_REQUEST_PAYLOAD, MAX_RESPONSE_FRAME, MAX_RESPONSE_PAYLOAD, PUBLIC_KEY_SIZE, SIGNATURE_SIZE,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::vsock::{SendBuffer, StreamService, RECEIVE_BUFFER_SIZE};
pub use device_key::{DerivationFailed, DeviceKey, BOARD_SECRET};

// A whole request must fit the connection's receive buffer, or the service would wait for it
// for ever.
const _: () = assert!(FRAME_HEADER_SIZE + MAX_REQUEST_PAYLOAD <= RECEIVE_BUFFER_SIZE);

/// Counters for the firmware's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeystoreStatistics {
    pub requests: u64,
    /// Requests answered with an error status.
    pub refused: u64,
}

/// The keystore's state: keys, counter, random generator. Created once at boot.
pub struct Keystore {
    device_key: DeviceKey,
    signing_key: SigningKey,
    counter: u64,
    random: ChaCha20Rng,
    statistics: KeystoreStatistics,
}

/// Per-connection state: how many bytes of an oversized request are still to be skipped.
#[derive(Default)]
pub struct KeystoreSession {
    skipping: usize,
}

impl Keystore {
    /// Derives the device key from `board_secret` ([`BOARD_SECRET`] in the firmware) and
    /// everything else from it; `boot_entropy` is the generic timer's count at boot.
    pub fn new(board_secret: &[u8], boot_entropy: u64) -> Result<Self, DerivationFailed> {
        let device_key = DeviceKey::derive(board_secret);
        let signing_key = SigningKey::from_bytes(&device_key.signing_seed()?);
        let counter = 0;
        let random = ChaCha20Rng::from_seed(device_key.random_seed(counter, boot_entropy)?);
        Ok(Self {
            device_key,
            signing_key,
            counter,
            random,
            statistics: KeystoreStatistics::default(),
        })
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_SIZE] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The counter's current value (the last one a COUNTER request returned).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    pub fn statistics(&self) -> KeystoreStatistics {
        self.statistics
    }

    /// Reseeds the random generator from its own output, the counter and `entropy` (the
    /// firmware passes the generic timer's count, whose low bits depend on when requests come).
    pub fn mix_entropy(&mut self, entropy: u64) {
        let mut current = [0u8; 32];
        self.random.fill_bytes(&mut current);
        // On the impossible failure the generator simply keeps its state.
        if let Ok(seed) = self
            .device_key
            .random_reseed(&current, self.counter, entropy)
        {
            self.random = ChaCha20Rng::from_seed(seed);
        }
    }

    /// Carries out a well-formed request; writes the response payload into `output` and returns
    /// its length, or the error status.
    pub fn perform(
        &mut self,
        request: &Request<'_>,
        output: &mut [u8; MAX_RESPONSE_PAYLOAD],
    ) -> Result<usize, Status> {
        match *request {
            Request::PublicKey => {
                output[..PUBLIC_KEY_SIZE].copy_from_slice(&self.public_key());
                Ok(PUBLIC_KEY_SIZE)
            }
            Request::Sign { message } => {
                let signature = self.signing_key.sign(message);
                output[..SIGNATURE_SIZE].copy_from_slice(&signature.to_bytes());
                Ok(SIGNATURE_SIZE)
            }
            Request::Hmac { key_name, message } => {
                let key = self
                    .device_key
                    .hmac_key(key_name)
                    .map_err(|_| Status::BadArgument)?;
                output[..MAC_SIZE].copy_from_slice(&device_key::hmac_sha256(&key, message));
                Ok(MAC_SIZE)
            }
            Request::Random { count } => {
                // Request::parse keeps count within 1..=MAX_RANDOM_BYTES (= the output's size).
                let count = usize::from(count).min(output.len());
                self.random.fill_bytes(&mut output[..count]);
                Ok(count)
            }
            Request::Counter => {
                self.counter = self
                    .counter
                    .checked_add(1)
                    .ok_or(Status::CounterExhausted)?;
                output[..COUNTER_SIZE].copy_from_slice(&self.counter.to_le_bytes());
                Ok(COUNTER_SIZE)
            }
        }
    }

    /// Answers one request frame into `output` (which has room for any response).
    fn answer(&mut self, code: u8, payload: &[u8], output: &mut SendBuffer) {
        self.statistics.requests += 1;
        let mut response_payload = [0u8; MAX_RESPONSE_PAYLOAD];
        let result = Request::parse(code, payload)
            .and_then(|request| self.perform(&request, &mut response_payload));
        let response = match result {
            Ok(length) => Response::ok(&response_payload[..length]),
            Err(status) => {
                self.statistics.refused += 1;
                Response::error(status)
            }
        };
        write_response(&response, output);
    }
}

/// Queues a response; the caller made sure [`MAX_RESPONSE_FRAME`] bytes are free.
fn write_response(response: &Response<'_>, output: &mut SendBuffer) {
    let mut frame = [0u8; MAX_RESPONSE_FRAME];
    if let Ok(size) = response.encode(&mut frame) {
        // Cannot fail: the room was checked before the request was taken.
        let _ = output.write(&frame[..size]);
    }
}

impl StreamService for Keystore {
    type Session = KeystoreSession;

    /// Takes whole request frames while there is room for their responses. A frame announcing
    /// more than [`MAX_REQUEST_PAYLOAD`] bytes is answered with [`Status::TooLarge`] at once and
    /// its payload skipped as it arrives, so the connection stays in step and usable.
    fn serve(
        &mut self,
        session: &mut KeystoreSession,
        input: &[u8],
        output: &mut SendBuffer,
    ) -> usize {
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            if session.skipping > 0 {
                let skipped = session.skipping.min(rest.len());
                session.skipping -= skipped;
                consumed += skipped;
                if session.skipping > 0 {
                    break;
                }
                continue;
            }
            let Some(header) = FrameHeader::parse(rest) else {
                break;
            };
            if output.free() < MAX_RESPONSE_FRAME {
                break;
            }
            if usize::from(header.length) > MAX_REQUEST_PAYLOAD {
                self.statistics.requests += 1;
                self.statistics.refused += 1;
                write_response(&Response::error(Status::TooLarge), output);
                consumed += FRAME_HEADER_SIZE;
                session.skipping = usize::from(header.length);
                continue;
            }
            let Some(frame) = split_frame(rest) else {
                break;
            };
            self.answer(frame.code, frame.payload, output);
            consumed += frame.size;
        }
        consumed
    }
}

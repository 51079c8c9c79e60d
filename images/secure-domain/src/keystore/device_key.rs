//! The device key and everything derived from it with HKDF-SHA256 (RFC 5869).
//!
//! A real device would derive its keys from a hardware-unique key that only the secure world can
//! read (a fused secret, or a key the SoC's crypto engine never lets out). QEMU virt has none, so
//! a per-board secret compiled into the secure domain's image stands in for it: anyone who reads
//! the image knows the device key. It never leaves the secure domain at run time (the other
//! domains cannot map its RAM), and every key the keystore uses is derived from it, so replacing
//! the stand-in by a hardware key changes only [`BOARD_SECRET`].

use hkdf::Hkdf;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The qemu-virt board's stand-in for a hardware-unique key (see the module documentation).
pub const BOARD_SECRET: [u8; 32] = *b"hyp-arm qemu-virt board secret 1";

/// HKDF's salt: names the scheme, so keys derived for anything else from the same secret differ.
const SALT: &[u8] = b"hyp-arm keystore device key v1";

/// Labels (HKDF `info`) of the derived keys. Each ends in a NUL so no label is a prefix of
/// another label followed by a name.
const SIGNING_LABEL: &[u8] = b"ed25519 signing key\0";
const HMAC_LABEL: &[u8] = b"hmac-sha256 key\0";
const RANDOM_SEED_LABEL: &[u8] = b"chacha20 drbg seed\0";
const RANDOM_RESEED_LABEL: &[u8] = b"chacha20 drbg reseed\0";

/// Bytes of every derived key.
pub const DERIVED_KEY_SIZE: usize = 32;

/// HKDF could not expand: it refuses outputs longer than 255 hash lengths, which ours never
/// are, so this is a bug worth reporting rather than a case to handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerivationFailed;

/// The device key: HKDF-Extract(salt, board secret), the pseudo-random key every other key is
/// expanded from.
#[derive(Clone)]
pub struct DeviceKey {
    hkdf: Hkdf<Sha256>,
}

impl DeviceKey {
    pub fn derive(board_secret: &[u8]) -> Self {
        Self {
            hkdf: Hkdf::<Sha256>::new(Some(SALT), board_secret),
        }
    }

    /// HKDF-Expand with `info` = the concatenation of `info_parts`.
    fn expand(&self, info_parts: &[&[u8]]) -> Result<[u8; DERIVED_KEY_SIZE], DerivationFailed> {
        let mut key = [0u8; DERIVED_KEY_SIZE];
        self.hkdf
            .expand_multi_info(info_parts, &mut key)
            .map_err(|_| DerivationFailed)?;
        Ok(key)
    }

    /// The Ed25519 private key's seed.
    pub fn signing_seed(&self) -> Result<[u8; DERIVED_KEY_SIZE], DerivationFailed> {
        self.expand(&[SIGNING_LABEL])
    }

    /// The HMAC key with this name: the same name gives the same key on every boot.
    pub fn hmac_key(&self, name: &[u8]) -> Result<[u8; DERIVED_KEY_SIZE], DerivationFailed> {
        self.expand(&[HMAC_LABEL, name])
    }

    /// The random generator's first seed, from the counter and the boot-time timer value.
    pub fn random_seed(
        &self,
        counter: u64,
        boot_entropy: u64,
    ) -> Result<[u8; DERIVED_KEY_SIZE], DerivationFailed> {
        self.expand(&[
            RANDOM_SEED_LABEL,
            &counter.to_le_bytes(),
            &boot_entropy.to_le_bytes(),
        ])
    }

    /// A new seed from the generator's own output and a fresh timer value.
    pub fn random_reseed(
        &self,
        current: &[u8; DERIVED_KEY_SIZE],
        counter: u64,
        entropy: u64,
    ) -> Result<[u8; DERIVED_KEY_SIZE], DerivationFailed> {
        self.expand(&[
            RANDOM_RESEED_LABEL,
            current,
            &counter.to_le_bytes(),
            &entropy.to_le_bytes(),
        ])
    }
}

/// HMAC-SHA256 (RFC 2104) with a key of up to 32 bytes, given zero-padded to 32. HMAC pads every
/// key shorter than SHA-256's 64-byte block with zeros, so trailing zeros do not change the MAC,
/// and a fixed-size key makes the construction infallible.
pub fn hmac_sha256(key: &[u8; DERIVED_KEY_SIZE], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..DERIVED_KEY_SIZE].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn padded(key: &[u8]) -> [u8; 32] {
        let mut padded = [0u8; 32];
        padded[..key.len()].copy_from_slice(key);
        padded
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1: a 20-byte key.
        assert_eq!(
            hex(&hmac_sha256(&padded(&[0x0b; 20]), b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the output.
        assert_eq!(
            hex(&hmac_sha256(
                &padded(b"Jefe"),
                b"what do ya want for nothing?"
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 42];
        hkdf.expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        let device = DeviceKey::derive(&BOARD_SECRET);
        let again = DeviceKey::derive(&BOARD_SECRET);
        assert_eq!(device.signing_seed(), again.signing_seed());
        assert_eq!(device.hmac_key(b"a"), again.hmac_key(b"a"));
        assert_ne!(device.hmac_key(b"a"), device.hmac_key(b"b"));
        assert_ne!(
            device.hmac_key(b"a").unwrap(),
            device.signing_seed().unwrap()
        );
        assert_ne!(device.random_seed(0, 1), device.random_seed(0, 2));
        assert_ne!(device.random_seed(0, 1), device.random_seed(1, 1));
        let other_board = DeviceKey::derive(b"another board");
        assert_ne!(device.signing_seed(), other_board.signing_seed());
    }
}

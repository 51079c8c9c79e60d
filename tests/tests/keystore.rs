//! The keystore in the secure domain, used from android's Linux over AF_VSOCK (the virtio-vsock
//! device hyp-arm emulates, the channel ring it moves packets through, docs/KEYSTORE.md):
//! a signature that verifies here, on the host, against the public key it reported; malformed
//! requests refused with the service still answering; the counter rising and the device key
//! unchanged across android's reboots.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use hyp_arm_system_tests::guest::{self, BOOT_TIMEOUT, STEP_TIMEOUT, USERSPACE};
use hyp_arm_system_tests::{secure, BootConfig, BootTarget, Failure, GicVersion, Mode, Qemu};

/// What init has keystore-cli sign (images/initramfs/init).
const MESSAGE: &[u8] = b"hyp-arm-keystore-test";
const PUBKEY: &str = "[android] HYPTEST-KEYSTORE-PUBKEY ";
const SIGNATURE: &str = "[android] HYPTEST-KEYSTORE-SIGNATURE ";
const COUNTER: &str = "[android] HYPTEST-KEYSTORE-COUNTER ";
/// The secure domain's vsock server after hyp-arm's reset notice (docs/CHANNELS.md).
const PEER_RESET: &str =
    "[secure] secure-domain: the guest reset its vsock device; its connections are forgotten";

fn bytes_of_hex(qemu: &Qemu, what: &str, text: &str, length: usize) -> Result<Vec<u8>, Failure> {
    let valid = text.len() == 2 * length && text.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(qemu.failure(format!(
            "{what}: `{text}` is not {length} bytes of hex (the keystore did not answer?)"
        )));
    }
    Ok((0..length)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect())
}

fn public_key(qemu: &mut Qemu) -> Result<Vec<u8>, Failure> {
    let text = qemu.wait_for_line(PUBKEY, BOOT_TIMEOUT)?;
    bytes_of_hex(qemu, "public key", &text, 32)
}

fn counter(qemu: &mut Qemu) -> Result<u64, Failure> {
    let text = qemu.wait_for_line(COUNTER, STEP_TIMEOUT)?;
    text.parse()
        .map_err(|_| qemu.failure(format!("the counter is `{text}`, not a number")))
}

fn signs_and_refuses_bad_requests(
    gic_version: GicVersion,
    target: BootTarget,
    smp: u32,
) -> Result<(), Failure> {
    let config = BootConfig {
        gic_version,
        smp,
        target,
        bootargs_extra: Mode::Keystore.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    qemu.wait_for(secure::UP, BOOT_TIMEOUT)?;
    qemu.wait_for(&format!("[android] {USERSPACE}"), BOOT_TIMEOUT)?;
    let key = public_key(&mut qemu)?;
    let signature = qemu.wait_for_line(SIGNATURE, STEP_TIMEOUT)?;
    let signature = bytes_of_hex(&qemu, "signature", &signature, 64)?;
    let key_bytes: [u8; 32] = key.as_slice().try_into().unwrap_or([0; 32]);
    let signature_bytes: [u8; 64] = signature.as_slice().try_into().unwrap_or([0; 64]);
    let verifying_key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|error| qemu.failure(format!("the public key is not a curve point: {error}")))?;
    verifying_key
        .verify(MESSAGE, &Signature::from_bytes(&signature_bytes))
        .map_err(|error| qemu.failure(format!("the signature does not verify: {error}")))?;
    counter(&mut qemu)?;
    // keystore-cli sends each kind of malformed request, then a good one.
    qemu.wait_for("HYPTEST-KEYSTORE-FAULTS-REFUSED", STEP_TIMEOUT)?;
    let hmac = qemu.wait_for_line("[android] HYPTEST-KEYSTORE-HMAC ", STEP_TIMEOUT)?;
    bytes_of_hex(&qemu, "HMAC-SHA256", &hmac, 32)?;
    let random = qemu.wait_for_line("[android] HYPTEST-KEYSTORE-RANDOM ", STEP_TIMEOUT)?;
    bytes_of_hex(&qemu, "random bytes", &random, 16)?;
    qemu.wait_for("HYPTEST-KEYSTORE-DONE", STEP_TIMEOUT)?;
    guest::check_powered_off(&mut qemu)?;
    secure::check_started_once(&qemu)
}

#[test]
fn gic3_shared_smp1_keystore_signs() -> Result<(), Failure> {
    signs_and_refuses_bad_requests(GicVersion::V3, BootTarget::HypArm, 1)
}

#[test]
fn gic2_shared_smp4_keystore_signs() -> Result<(), Failure> {
    signs_and_refuses_bad_requests(GicVersion::V2, BootTarget::HypArm, 4)
}

#[test]
fn gic3_pinned_smp4_keystore_signs() -> Result<(), Failure> {
    signs_and_refuses_bad_requests(GicVersion::V3, BootTarget::HypArmPinned, 4)
}

#[test]
fn gic2_pinned_smp4_keystore_signs() -> Result<(), Failure> {
    signs_and_refuses_bad_requests(GicVersion::V2, BootTarget::HypArmPinned, 4)
}

/// Android reboots three times: the device key stays, the counter only rises, and each time the
/// secure domain learns that the old android's connections are gone.
#[test]
fn key_stays_and_counter_rises_across_android_reboots() -> Result<(), Failure> {
    let config = BootConfig {
        smp: 2,
        bootargs_extra: Mode::KeystoreReboot.bootargs(),
        ..BootConfig::default()
    };
    let mut qemu = Qemu::boot(&config);
    let mut first_key = None;
    let mut last_counter = None;
    for _ in 0..3 {
        let key = public_key(&mut qemu)?;
        let value = counter(&mut qemu)?;
        if first_key.get_or_insert_with(|| key.clone()) != &key {
            return Err(qemu.failure("the device key changed across android's reboot"));
        }
        if last_counter.is_some_and(|last| value <= last) {
            return Err(qemu.failure(format!(
                "the counter went from {last_counter:?} to {value} across android's reboot"
            )));
        }
        last_counter = Some(value);
        qemu.wait_for(guest::REBOOTING, STEP_TIMEOUT)?;
        // hyp-arm tells the secure domain the old android's connections are gone.
        qemu.wait_for(PEER_RESET, STEP_TIMEOUT)?;
    }
    secure::check_started_once(&qemu)
}

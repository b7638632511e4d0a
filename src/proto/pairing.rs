//! Legacy AirPlay pairing: `POST /pair-setup` and the two `POST /pair-verify` stages
//! (PROTOCOL.md §3.2, §3.3), receiver side as a state machine and, in [`client`], the
//! sender side used by our built-in sender.
//!
//! Owns: the pairing byte formats, the X25519 agreement, the Ed25519 signatures and the
//! AES-CTR wrapping of them, and UxPlay's rule for which secret feeds the session key.
//! Must not touch: HTTP/RTSP framing (the session hands in bodies and sends back replies),
//! key storage (the long-term key is passed in), randomness (ephemeral keys are passed in).
//!
//! Transitions consume the old state. On `Err` the old state is gone; the session should
//! store [`PairingServer::Failed`] and, like UxPlay after a bad stage 2, close the
//! connection. Bytes 1..=3 of a pair-verify body are ignored, as UxPlay ignores them.

mod client;

pub use client::PairingClient;

use std::fmt;

use aes::Aes128;
use aes::cipher::{KeyIvInit, StreamCipher};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey, StaticSecret};

use super::keys::sha512_prefix16;

/// Length of a `/pair-setup` body in both directions: a raw Ed25519 public key.
pub const PAIR_SETUP_LEN: usize = 0x20;
/// Length of both pair-verify requests: flag, three zero bytes, 64 bytes of payload.
pub const PAIR_VERIFY_REQUEST_LEN: usize = 0x44;
/// Length of the stage-1 reply: our ephemeral X25519 key and the encrypted signature.
pub const PAIR_VERIFY_REPLY_LEN: usize = 0x60;
/// Flag byte (request byte 0) of pair-verify stage 1.
pub const FLAG_VERIFY_STAGE1: u8 = 0x01;
/// Flag byte (request byte 0) of pair-verify stage 2.
pub const FLAG_VERIFY_STAGE2: u8 = 0x00;

const KEY_LEN: usize = 0x20;
const SIGNATURE_LEN: usize = 0x40;
/// Salts of the key and IV that wrap the pair-verify signatures.
const AES_KEY_SALT: &[u8] = b"Pair-Verify-AES-Key";
const AES_IV_SALT: &[u8] = b"Pair-Verify-AES-IV";
/// Salt of UxPlay's default (not secret) long-term key.
const UXPLAY_SEED_SALT: &[u8] = b"UxPlay-Persistent-Not-Secure-Public-Key";

/// Why a pairing message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("{what} must be {expected} bytes, got {got}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("pair-verify flag {got:#04x} is not valid here")]
    BadFlag { got: u8 },
    #[error("{message} is out of order in state {state}")]
    OutOfOrder {
        message: &'static str,
        state: &'static str,
    },
    #[error("the {which} public key is not usable")]
    BadPublicKey { which: &'static str },
    #[error("the {which} pair-verify signature does not verify")]
    SignatureMismatch { which: &'static str },
}

/// The pair-verify handshake after stage 1, waiting for the client's signature.
pub struct Handshake {
    client_ed25519: VerifyingKey,
    client_x25519: [u8; KEY_LEN],
    server_x25519: [u8; KEY_LEN],
    shared: [u8; KEY_LEN],
}

/// Receiver-side pairing state of one control connection.
#[derive(Default)]
pub enum PairingServer {
    /// Nothing happened yet: the FairPlay key is used unhashed.
    #[default]
    Initial,
    /// `/pair-setup` answered; no pair-verify yet.
    SetupDone,
    /// Stage 1 answered; the shared secret exists, stage 2 is awaited.
    AwaitingFinish(Box<Handshake>),
    /// Stage 2 verified the client's signature.
    Verified { shared: [u8; KEY_LEN] },
    /// A pairing message was refused; every further one is refused too.
    Failed,
}

impl fmt::Debug for PairingServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PairingServer::{}", self.state_name())
    }
}

impl PairingServer {
    pub fn new() -> Self {
        Self::Initial
    }

    fn state_name(&self) -> &'static str {
        match self {
            Self::Initial => "Initial",
            Self::SetupDone => "SetupDone",
            Self::AwaitingFinish(_) => "AwaitingFinish",
            Self::Verified { .. } => "Verified",
            Self::Failed => "Failed",
        }
    }

    fn out_of_order(&self, message: &'static str) -> PairingError {
        PairingError::OutOfOrder {
            message,
            state: self.state_name(),
        }
    }

    /// `POST /pair-setup`: the body is the client's 32-byte Ed25519 key (only its length is
    /// checked, as in UxPlay); the reply is our 32-byte Ed25519 public key.
    pub fn pair_setup(
        self,
        body: &[u8],
        long_term: &SigningKey,
    ) -> Result<(Self, Vec<u8>), PairingError> {
        match self {
            Self::Initial | Self::SetupDone => {}
            _ => return Err(self.out_of_order("pair-setup")),
        }
        fixed::<PAIR_SETUP_LEN>("pair-setup body", body)?;
        let reply = long_term.verifying_key().to_bytes().to_vec();
        Ok((Self::SetupDone, reply))
    }

    /// `POST /pair-verify` with the stage chosen by the flag byte, as the session sees it.
    /// `ephemeral_secret` is only used by stage 1.
    pub fn pair_verify(
        self,
        body: &[u8],
        long_term: &SigningKey,
        ephemeral_secret: [u8; KEY_LEN],
    ) -> Result<(Self, Vec<u8>), PairingError> {
        match body.first() {
            Some(&FLAG_VERIFY_STAGE1) => self.verify_stage1(body, long_term, ephemeral_secret),
            Some(&FLAG_VERIFY_STAGE2) => self.verify_stage2(body),
            Some(&got) => Err(PairingError::BadFlag { got }),
            None => Err(PairingError::WrongLength {
                what: "pair-verify request",
                expected: PAIR_VERIFY_REQUEST_LEN,
                got: 0,
            }),
        }
    }

    /// Pair-verify stage 1: `01 00 00 00 || C_x || C_ed` in, `S_x || enc(sig(S_x || C_x))`
    /// out. May be repeated before stage 2 (UxPlay restarts the handshake).
    pub fn verify_stage1(
        self,
        body: &[u8],
        long_term: &SigningKey,
        ephemeral_secret: [u8; KEY_LEN],
    ) -> Result<(Self, Vec<u8>), PairingError> {
        match self {
            Self::SetupDone | Self::AwaitingFinish(_) => {}
            _ => return Err(self.out_of_order("pair-verify stage 1")),
        }
        let payload = verify_payload(body, FLAG_VERIFY_STAGE1)?;
        let (client_x25519, client_ed25519) = split_keys(payload);
        let client_ed25519 = parse_ed25519(&client_ed25519, "client Ed25519")?;

        let secret = StaticSecret::from(ephemeral_secret);
        let server_x25519 = PublicKey::from(&secret).to_bytes();
        let shared = agree(&secret, client_x25519, "client X25519")?;

        let signature = long_term.sign(&concat_keys(&server_x25519, &client_x25519));
        let mut wrapped = signature.to_bytes();
        verify_cipher(&shared).apply_keystream(&mut wrapped);

        let mut reply = Vec::with_capacity(PAIR_VERIFY_REPLY_LEN);
        reply.extend_from_slice(&server_x25519);
        reply.extend_from_slice(&wrapped);
        let handshake = Handshake {
            client_ed25519,
            client_x25519,
            server_x25519,
            shared,
        };
        Ok((Self::AwaitingFinish(Box::new(handshake)), reply))
    }

    /// Pair-verify stage 2: `00 00 00 00 || enc(sig(C_x || S_x))` (keystream bytes 64..127)
    /// in, an empty reply out once the client's signature verifies strictly.
    pub fn verify_stage2(self, body: &[u8]) -> Result<(Self, Vec<u8>), PairingError> {
        let handshake = match self {
            Self::AwaitingFinish(handshake) => handshake,
            other => return Err(other.out_of_order("pair-verify stage 2")),
        };
        let payload = verify_payload(body, FLAG_VERIFY_STAGE2)?;
        let signature = unwrap_stage2_signature(&handshake.shared, payload);
        let message = concat_keys(&handshake.client_x25519, &handshake.server_x25519);
        handshake
            .client_ed25519
            .verify_strict(&message, &signature)
            .map_err(|_| PairingError::SignatureMismatch { which: "client" })?;
        Ok((
            Self::Verified {
                shared: handshake.shared,
            },
            Vec::new(),
        ))
    }

    /// The secret to hash into the session key, by UxPlay's rule: `None` before any
    /// pairing (and after a failure), all zeros after pair-setup alone, the X25519 shared
    /// secret once stage 1 has run (whether or not stage 2 followed).
    pub fn ecdh_secret_for_session_key(&self) -> Option<[u8; KEY_LEN]> {
        match self {
            Self::Initial | Self::Failed => None,
            Self::SetupDone => Some([0; KEY_LEN]),
            Self::AwaitingFinish(handshake) => Some(handshake.shared),
            Self::Verified { shared } => Some(*shared),
        }
    }

    /// True once stage 2 verified the client.
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified { .. })
    }
}

/// UxPlay's default long-term Ed25519 seed for a MAC string such as `"02:11:22:33:44:55"`:
/// `SHA-512("UxPlay-Persistent-Not-Secure-Public-Key" || device_id)[..32]`. It is public,
/// so airglass never uses it as its own key; it exists to check the vectors.
pub fn uxplay_default_seed(device_id: &str) -> [u8; 32] {
    use sha2::{Digest, Sha512};
    let digest = Sha512::new()
        .chain_update(UXPLAY_SEED_SALT)
        .chain_update(device_id.as_bytes())
        .finalize();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&digest[..32]);
    seed
}

/// `body` as a fixed-size array, or the length error naming `what`.
fn fixed<'a, const N: usize>(
    what: &'static str,
    body: &'a [u8],
) -> Result<&'a [u8; N], PairingError> {
    body.try_into().map_err(|_| PairingError::WrongLength {
        what,
        expected: N,
        got: body.len(),
    })
}

/// Checks length and flag of a pair-verify request and returns its 64-byte payload.
fn verify_payload(body: &[u8], flag: u8) -> Result<&[u8; 2 * KEY_LEN], PairingError> {
    let request: &[u8; PAIR_VERIFY_REQUEST_LEN] = fixed("pair-verify request", body)?;
    let [got, _, _, _, payload @ ..] = request;
    if *got != flag {
        return Err(PairingError::BadFlag { got: *got });
    }
    Ok(payload)
}

/// Splits a 64-byte payload into two 32-byte keys.
fn split_keys(payload: &[u8; 2 * KEY_LEN]) -> ([u8; KEY_LEN], [u8; KEY_LEN]) {
    let mut first = [0u8; KEY_LEN];
    let mut second = [0u8; KEY_LEN];
    first.copy_from_slice(&payload[..KEY_LEN]);
    second.copy_from_slice(&payload[KEY_LEN..]);
    (first, second)
}

fn concat_keys(first: &[u8; KEY_LEN], second: &[u8; KEY_LEN]) -> [u8; 2 * KEY_LEN] {
    let mut out = [0u8; 2 * KEY_LEN];
    out[..KEY_LEN].copy_from_slice(first);
    out[KEY_LEN..].copy_from_slice(second);
    out
}

/// A peer's Ed25519 key, refusing invalid encodings and small-order (weak) points.
fn parse_ed25519(bytes: &[u8; KEY_LEN], which: &'static str) -> Result<VerifyingKey, PairingError> {
    match VerifyingKey::from_bytes(bytes) {
        Ok(key) if !key.is_weak() => Ok(key),
        _ => Err(PairingError::BadPublicKey { which }),
    }
}

/// X25519 with the peer's key, refusing low-order points (an all-zero secret).
fn agree(
    ours: &StaticSecret,
    theirs: [u8; KEY_LEN],
    which: &'static str,
) -> Result<[u8; KEY_LEN], PairingError> {
    let shared = ours.diffie_hellman(&PublicKey::from(theirs));
    if shared.was_contributory() {
        Ok(shared.to_bytes())
    } else {
        Err(PairingError::BadPublicKey { which })
    }
}

type VerifyCtr = ctr::Ctr128BE<Aes128>;

/// The AES-128-CTR stream that wraps both signatures, at keystream byte 0.
fn verify_cipher(shared: &[u8; KEY_LEN]) -> VerifyCtr {
    let key = sha512_prefix16(&[AES_KEY_SALT, shared]);
    let iv = sha512_prefix16(&[AES_IV_SALT, shared]);
    VerifyCtr::new(&key.into(), &iv.into())
}

/// Applies keystream bytes 64..127 (stage 2 skips the 64 bytes used for stage 1).
fn stage2_keystream(shared: &[u8; KEY_LEN], buf: &mut [u8; SIGNATURE_LEN]) {
    let mut cipher = verify_cipher(shared);
    let mut skipped = [0u8; SIGNATURE_LEN];
    cipher.apply_keystream(&mut skipped);
    cipher.apply_keystream(buf);
}

fn unwrap_stage2_signature(shared: &[u8; KEY_LEN], payload: &[u8; SIGNATURE_LEN]) -> Signature {
    let mut bytes = *payload;
    stage2_keystream(shared, &mut bytes);
    Signature::from_bytes(&bytes)
}

#[cfg(test)]
mod tests;

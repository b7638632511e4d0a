//! The sender's side of legacy pairing, for the built-in sender and the tests.
//!
//! Owns: building `/pair-setup` and both `/pair-verify` bodies from injected keys and
//! checking the receiver's stage-1 signature. Must not touch the network or pick keys.

use std::fmt;

use aes::cipher::StreamCipher;
use ed25519_dalek::{Signature, Signer, SigningKey};
use x25519_dalek::{PublicKey, StaticSecret};

use super::{
    FLAG_VERIFY_STAGE1, FLAG_VERIFY_STAGE2, KEY_LEN, PAIR_SETUP_LEN, PAIR_VERIFY_REPLY_LEN,
    PAIR_VERIFY_REQUEST_LEN, PairingError, SIGNATURE_LEN, agree, concat_keys, fixed, parse_ed25519,
    stage2_keystream, verify_cipher,
};

/// One pairing attempt of a sender: its ephemeral X25519 key and its Ed25519 identity.
pub struct PairingClient {
    x25519_secret: StaticSecret,
    x25519_public: [u8; KEY_LEN],
    ed25519: SigningKey,
    shared: Option<[u8; KEY_LEN]>,
}

impl fmt::Debug for PairingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingClient")
            .field("x25519_public", &hex::encode(self.x25519_public))
            .field("paired", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl PairingClient {
    /// `x25519_secret` is the raw ephemeral scalar (clamped by X25519 itself),
    /// `ed25519_seed` an RFC 8032 private key.
    pub fn new(x25519_secret: [u8; KEY_LEN], ed25519_seed: [u8; KEY_LEN]) -> Self {
        let x25519_secret = StaticSecret::from(x25519_secret);
        let x25519_public = PublicKey::from(&x25519_secret).to_bytes();
        Self {
            x25519_secret,
            x25519_public,
            ed25519: SigningKey::from_bytes(&ed25519_seed),
            shared: None,
        }
    }

    /// Our ephemeral X25519 public key (`C_x`).
    pub fn x25519_public(&self) -> [u8; KEY_LEN] {
        self.x25519_public
    }

    /// Our Ed25519 public key (`C_ed`).
    pub fn ed25519_public(&self) -> [u8; KEY_LEN] {
        self.ed25519.verifying_key().to_bytes()
    }

    /// The `/pair-setup` body: our 32-byte Ed25519 public key.
    pub fn setup_request(&self) -> Vec<u8> {
        self.ed25519_public().to_vec()
    }

    /// Reads the receiver's `/pair-setup` reply: its 32-byte Ed25519 public key.
    pub fn parse_setup_reply(body: &[u8]) -> Result<[u8; KEY_LEN], PairingError> {
        fixed::<PAIR_SETUP_LEN>("pair-setup reply", body).copied()
    }

    /// The stage-1 body: `01 00 00 00 || C_x || C_ed`.
    pub fn verify_request1(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(PAIR_VERIFY_REQUEST_LEN);
        body.extend_from_slice(&[FLAG_VERIFY_STAGE1, 0x00, 0x00, 0x00]);
        body.extend_from_slice(&self.x25519_public);
        body.extend_from_slice(&self.ed25519_public());
        body
    }

    /// Checks the stage-1 reply `S_x || enc(sig)` against the receiver's long-term key and
    /// returns the stage-2 body `00 00 00 00 || enc(sig(C_x || S_x))`. The shared secret is
    /// kept only when the receiver's signature verifies.
    pub fn verify_request2(
        &mut self,
        server_ed25519_public: &[u8; KEY_LEN],
        response1: &[u8],
    ) -> Result<Vec<u8>, PairingError> {
        let reply: &[u8; PAIR_VERIFY_REPLY_LEN] = fixed("pair-verify reply", response1)?;
        let mut server_x25519 = [0u8; KEY_LEN];
        let mut signature = [0u8; SIGNATURE_LEN];
        server_x25519.copy_from_slice(&reply[..KEY_LEN]);
        signature.copy_from_slice(&reply[KEY_LEN..]);

        let server_key = parse_ed25519(server_ed25519_public, "server Ed25519")?;
        let shared = agree(&self.x25519_secret, server_x25519, "server X25519")?;
        verify_cipher(&shared).apply_keystream(&mut signature);
        let message = concat_keys(&server_x25519, &self.x25519_public);
        server_key
            .verify_strict(&message, &Signature::from_bytes(&signature))
            .map_err(|_| PairingError::SignatureMismatch { which: "server" })?;

        let mut ours = self
            .ed25519
            .sign(&concat_keys(&self.x25519_public, &server_x25519))
            .to_bytes();
        stage2_keystream(&shared, &mut ours);
        self.shared = Some(shared);

        let mut body = Vec::with_capacity(PAIR_VERIFY_REQUEST_LEN);
        body.extend_from_slice(&[FLAG_VERIFY_STAGE2, 0x00, 0x00, 0x00]);
        body.extend_from_slice(&ours);
        Ok(body)
    }

    /// The X25519 shared secret, once [`PairingClient::verify_request2`] succeeded.
    pub fn shared_secret(&self) -> Option<[u8; KEY_LEN]> {
        self.shared
    }
}

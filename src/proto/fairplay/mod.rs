//! FairPlay SAP ("playfair"): the `/fp-setup` handshake and the `ekey` decryption.
//!
//! Owns: answering both stages of `POST /fp-setup` ([`setup_reply`]), building the stage-1
//! request for the built-in sender ([`stage1_request`]), and recovering the raw 16-byte AES key
//! from the SETUP `ekey` given the stored stage-2 request ([`decrypt_key`]). Pure functions
//! over bytes: no I/O, no clock, no randomness, no session state. Must not touch: storing the
//! stage-2 request (the session does), the SHA-512 hashing of the key with the pair-verify
//! secret, or anything derived from the key (`proto::keys`).
//!
//! There is no public specification; the algorithm follows the public reverse-engineered
//! receiver code (UxPlay `lib/playfair/`, MIT Java port in java-airplay-lib). The steps of
//! [`decrypt_key`], one file each:
//!
//! 1. `message`: CBC-decrypt the stage-2 request body (bytes 16..144) with the mode's keys.
//! 2. `session_key`: hash that plaintext, with constant material, into a 16-byte session key
//!    (five rounds of `modified_md5` plus `sap_hash`, whose core is `garble`).
//! 3. `key_schedule`: expand the session key into eleven round keys.
//! 4. `cycle`: decrypt `ekey[56..72]` (whitened with `Z_KEY`) under that schedule.
//! 5. XOR with `ekey[16..32]`, then with `X_KEY` and `Z_KEY`: the AES key.
//!
//! The constant tables live in `tables/*.bin` (see `tables/manifest.json`) and are decoded at
//! compile time by `tables`.

mod block;
mod cycle;
mod garble;
mod key_schedule;
mod message;
mod modified_md5;
mod sap_hash;
mod session_key;
mod setup;
mod tables;

pub use setup::{setup_reply, stage1_request};

use block::{Block, blocks_at, xor};
use setup::KeyMessage;
use tables::{X_KEY, Z_KEY};

/// Length of the stage-1 `/fp-setup` request.
pub const STAGE1_REQUEST_LEN: usize = 16;
/// Length of the stage-2 `/fp-setup` request ("keymsg"), which the session must keep.
pub const STAGE2_REQUEST_LEN: usize = 164;
/// Length of the stage-1 reply.
pub const STAGE1_REPLY_LEN: usize = 142;
/// Length of the stage-2 reply.
pub const STAGE2_REPLY_LEN: usize = 32;
/// Length of the SETUP `ekey`.
pub const EKEY_LEN: usize = 72;
/// Length of the recovered AES key.
pub const KEY_LEN: usize = 16;

/// Offset of the block XORed into the decrypted block ("chunk 1").
const EKEY_MASK_AT: usize = 16;
/// Offset of the encrypted block ("chunk 2").
const EKEY_BLOCK_AT: usize = 56;

/// Why a FairPlay message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FairPlayError {
    /// The message does not start with `FPLY`.
    #[error("not a FairPlay message: starts with {0:02x?}, want \"FPLY\"")]
    BadMagic([u8; 4]),
    /// The version byte (byte 4) is not 3; macOS sends 2, which this receiver cannot serve.
    #[error("unsupported FairPlay version {0:#04x} (only 0x03 is supported)")]
    UnsupportedVersion(u8),
    /// The message-type byte (byte 6) is neither a stage-1 (1) nor a stage-2 (3) request.
    #[error("unknown FairPlay message type {0:#04x}")]
    UnknownMessageType(u8),
    /// The mode byte is above 3.
    #[error("FairPlay mode {0} is out of range 0..=3")]
    BadMode(u8),
    /// The input is truncated or oversized.
    #[error("{what} has {actual} bytes, want {expected}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
}

/// One of the four FairPlay modes; every per-mode table has one entry per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Zero,
    One,
    Two,
    Three,
}

impl Mode {
    /// The mode named by a request's mode byte.
    fn from_byte(byte: u8) -> Result<Self, FairPlayError> {
        match byte {
            0 => Ok(Self::Zero),
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            3 => Ok(Self::Three),
            other => Err(FairPlayError::BadMode(other)),
        }
    }

    /// This mode's entry of a per-mode table.
    fn pick<T>(self, per_mode: &[T; 4]) -> &T {
        let [zero, one, two, three] = per_mode;
        match self {
            Self::Zero => zero,
            Self::One => one,
            Self::Two => two,
            Self::Three => three,
        }
    }
}

/// Recovers the raw 16-byte AES key from the SETUP `ekey`.
///
/// `keymsg` is the 164-byte stage-2 `/fp-setup` request accepted earlier on this connection
/// (mode = byte 12); `ekey` is the 72-byte `ekey` from SETUP. Only `keymsg` bytes 12 and
/// 16..144 and `ekey` bytes 16..32 and 56..72 affect the result. The key is the one before any
/// hashing with the pair-verify secret.
pub fn decrypt_key(keymsg: &[u8], ekey: &[u8]) -> Result<[u8; KEY_LEN], FairPlayError> {
    let message = KeyMessage::parse(keymsg)?;
    let wrong_ekey = || FairPlayError::WrongLength {
        what: "ekey",
        expected: EKEY_LEN,
        actual: ekey.len(),
    };
    if ekey.len() != EKEY_LEN {
        return Err(wrong_ekey());
    }
    let [mask]: [Block; 1] = blocks_at(ekey, EKEY_MASK_AT).ok_or_else(wrong_ekey)?;
    let [encrypted]: [Block; 1] = blocks_at(ekey, EKEY_BLOCK_AT).ok_or_else(wrong_ekey)?;

    let sap_key = session_key::derive(message.mode, &message.body);
    let schedule = key_schedule::expand(&sap_key);
    let mut block = xor(&encrypted, &Z_KEY);
    cycle::decrypt_block(&mut block, &schedule);
    Ok(xor(&xor(&xor(&block, &mask), &X_KEY), &Z_KEY))
}

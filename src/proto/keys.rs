//! Session key derivation (PROTOCOL.md §4.2, §4.3).
//!
//! Owns: turning the FairPlay key and the pair-verify secret into the session key, the
//! per-stream video key/IV, and the `streamConnectionID` newtype that feeds them. It does
//! not decrypt anything (that is [`crate::proto::cipher`]), does not run FairPlay
//! ([`crate::proto::fairplay`]) and does not decide *whether* a client gets the hashed key
//! (the session applies UxPlay's rules and passes `None` or `Some(secret)` here).

use std::fmt;

use sha2::{Digest, Sha512};

use super::cipher::{AudioCipher, VideoCipher};

/// Prefix of the video key hash input; the stream id follows as unsigned decimal.
const VIDEO_KEY_SALT: &[u8] = b"AirPlayStreamKey";
/// Prefix of the video IV hash input; the stream id follows as unsigned decimal.
const VIDEO_IV_SALT: &[u8] = b"AirPlayStreamIV";

/// The first 16 bytes of SHA-512 over the concatenation of `parts`.
pub(crate) fn sha512_prefix16(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The session key used for audio and (via [`video_key_iv`]) video.
///
/// `None` means no pairing happened on this connection (or the client is one of UxPlay's
/// "old protocol" senders): the FairPlay key is used as is. `Some(secret)` gives
/// `SHA-512(fp_key || secret)[..16]`; after pair-setup without pair-verify the secret is all
/// zeros, exactly as UxPlay does (see `PairingServer::ecdh_secret_for_session_key`).
pub fn session_key(fp_key: &[u8; 16], ecdh_secret: Option<&[u8; 32]>) -> [u8; 16] {
    match ecdh_secret {
        None => *fp_key,
        Some(secret) => sha512_prefix16(&[fp_key, secret]),
    }
}

/// The mirror stream's AES-CTR key and initial counter for one `streamConnectionID`.
///
/// `key = SHA-512("AirPlayStreamKey" + id || session_key)[..16]`, likewise the IV with
/// `"AirPlayStreamIV"`; the id is written as an unsigned decimal (a negative bplist integer
/// must first be reinterpreted as `u64`, see [`StreamConnectionId::from_plist`]).
pub fn video_key_iv(session_key: &[u8; 16], stream_connection_id: u64) -> ([u8; 16], [u8; 16]) {
    let decimal = stream_connection_id.to_string();
    let key = sha512_prefix16(&[VIDEO_KEY_SALT, decimal.as_bytes(), session_key]);
    let iv = sha512_prefix16(&[VIDEO_IV_SALT, decimal.as_bytes(), session_key]);
    (key, iv)
}

/// A ready mirror-stream cipher for this session key and stream.
pub fn video_cipher(session_key: &[u8; 16], stream: StreamConnectionId) -> VideoCipher {
    let (key, iv) = video_key_iv(session_key, stream.0);
    VideoCipher::new(&key, &iv)
}

/// A ready audio cipher: the session key with the SETUP `eiv` (PROTOCOL.md §4.4).
pub fn audio_cipher(session_key: &[u8; 16], eiv: &[u8; 16]) -> AudioCipher {
    AudioCipher::new(session_key, eiv)
}

/// The `streamConnectionID` of a mirror stream, always held as the unsigned 64-bit value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StreamConnectionId(pub u64);

impl StreamConnectionId {
    /// Reads the id from a SETUP plist value. iOS sends it as a bplist integer that is
    /// often negative; a negative `i64` is reinterpreted bit for bit as `u64` (UxPlay prints
    /// it with `PRIu64`). Anything that is not an integer gives `None`.
    pub fn from_plist(value: &plist::Value) -> Option<Self> {
        let integer = value.as_signed_integer().map(|i| i as u64);
        let integer = integer.or_else(|| value.as_unsigned_integer());
        integer.map(Self)
    }

    /// This stream's video key and IV under `session_key` (see [`video_key_iv`]).
    pub fn video_key_iv(self, session_key: &[u8; 16]) -> ([u8; 16], [u8; 16]) {
        video_key_iv(session_key, self.0)
    }
}

impl fmt::Display for StreamConnectionId {
    /// Unsigned decimal, no sign, no padding: the exact text hashed into the video key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for StreamConnectionId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_leaves_the_fairplay_key_alone() {
        let fp = [0x5a; 16];
        assert_eq!(session_key(&fp, None), fp);
        assert_ne!(session_key(&fp, Some(&[0; 32])), fp);
    }

    #[test]
    fn plist_ids_of_both_signs_read_as_u64() {
        let negative = plist::Value::Integer((-1i64).into());
        assert_eq!(
            StreamConnectionId::from_plist(&negative),
            Some(StreamConnectionId(0xFFFF_FFFF_FFFF_FFFF))
        );
        let big = plist::Value::Integer(0x8000_0000_0000_0001u64.into());
        assert_eq!(
            StreamConnectionId::from_plist(&big),
            Some(StreamConnectionId(0x8000_0000_0000_0001))
        );
        let small = plist::Value::Integer(42i64.into());
        assert_eq!(
            StreamConnectionId::from_plist(&small),
            Some(StreamConnectionId(42))
        );
        let text = plist::Value::String("42".into());
        assert_eq!(StreamConnectionId::from_plist(&text), None);
    }

    #[test]
    fn display_is_unsigned_decimal() {
        let id = StreamConnectionId(-3_907_568_444_900_622_110i64 as u64);
        assert_eq!(id.to_string(), "14539175628808929506");
    }
}

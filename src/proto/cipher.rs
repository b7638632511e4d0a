//! The two stream ciphers AirPlay uses once the session key is known.
//!
//! * Mirror video: AES-128-CTR with a 128-bit big-endian counter, one continuous keystream per
//!   stream across all encrypted packets (PROTOCOL.md §4.3). Encryption and decryption are
//!   the same operation, so the sender uses [`VideoCipher`] too.
//! * Audio: AES-128-CBC restarted from the SETUP `eiv` for every RTP packet; only whole
//!   16-byte blocks are encrypted, the tail stays clear (PROTOCOL.md §4.4).

use aes::Aes128;
use aes::cipher::{
    BlockDecryptMut, BlockEncryptMut, KeyIvInit, StreamCipher, generic_array::GenericArray,
};

type Ctr = ctr::Ctr128BE<Aes128>;

/// One mirror stream's continuous AES-128-CTR keystream.
pub struct VideoCipher {
    ctr: Ctr,
}

impl VideoCipher {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        Self {
            ctr: Ctr::new(key.into(), iv.into()),
        }
    }

    /// Encrypts or decrypts `buf` in place, continuing the keystream where the last call left it.
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.ctr.apply_keystream(buf);
    }
}

impl std::fmt::Debug for VideoCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoCipher(..)")
    }
}

/// The audio cipher: AES-128-CBC with the IV reset for every packet.
#[derive(Clone)]
pub struct AudioCipher {
    key: [u8; 16],
    iv: [u8; 16],
}

impl AudioCipher {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        Self { key: *key, iv: *iv }
    }

    /// Decrypts one RTP payload in place: whole blocks only, the `len % 16` tail is clear.
    pub fn decrypt(&self, payload: &mut [u8]) {
        let whole = payload.len() / 16 * 16;
        let mut dec = cbc::Decryptor::<Aes128>::new(&self.key.into(), &self.iv.into());
        for block in payload[..whole].chunks_exact_mut(16) {
            dec.decrypt_block_mut(GenericArray::from_mut_slice(block));
        }
    }

    /// Encrypts one RTP payload in place (the sender's side of [`AudioCipher::decrypt`]).
    pub fn encrypt(&self, payload: &mut [u8]) {
        let whole = payload.len() / 16 * 16;
        let mut enc = cbc::Encryptor::<Aes128>::new(&self.key.into(), &self.iv.into());
        for block in payload[..whole].chunks_exact_mut(16) {
            enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
        }
    }
}

impl std::fmt::Debug for AudioCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudioCipher(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctr_is_continuous_across_arbitrary_splits() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut whole = plain.clone();
        VideoCipher::new(&key, &iv).apply(&mut whole);
        let mut parts = plain.clone();
        let mut c = VideoCipher::new(&key, &iv);
        let (a, rest) = parts.split_at_mut(37);
        let (b, d) = rest.split_at_mut(5);
        c.apply(a);
        c.apply(b);
        c.apply(d);
        assert_eq!(whole, parts);
        assert_ne!(whole, plain);
    }

    #[test]
    fn cbc_round_trips_and_leaves_the_tail_clear() {
        let c = AudioCipher::new(&[1; 16], &[2; 16]);
        let plain: Vec<u8> = (0..45u8).collect();
        let mut buf = plain.clone();
        c.encrypt(&mut buf);
        assert_ne!(buf[..32], plain[..32]);
        assert_eq!(buf[32..], plain[32..]);
        c.decrypt(&mut buf);
        assert_eq!(buf, plain);
    }
}

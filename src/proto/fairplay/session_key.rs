//! Derives the 16-byte SAP session key from the stage-2 request.
//!
//! Owns: assembling the 320 bytes that are hashed (`STATIC_SOURCE_1`, the decrypted request
//! body, bytes 0x80..0x100 of the built-in SAP blob, `STATIC_SOURCE_2`), the five hashing
//! rounds over its 64-byte blocks, and the final byte order and whitening. Each round computes
//! the modified MD5 of the block chained from the current key and the SAP hash of the block,
//! and the new key is their word-wise sum (little-endian words, modulo 2^32). Must not touch
//! the `ekey` block decryption that uses the result (`cycle`).

use super::Mode;
use super::block::Block;
use super::message::{BODY_BLOCKS, decrypt_body};
use super::modified_md5;
use super::sap_hash;
use super::tables::{DEFAULT_SAP, INITIAL_SESSION_KEY, STATIC_SOURCE_1, STATIC_SOURCE_2};

/// Bytes hashed into the session key: five 64-byte blocks.
const HASHED_LEN: usize = 320;
/// The part of the built-in SAP blob that enters the hash.
const DEFAULT_SAP_PART: core::ops::Range<usize> = 0x80..0x100;
/// XORed into every byte of the finished key.
const KEY_WHITENING: u8 = 0x79;

const _: () = assert!(17 + 16 * BODY_BLOCKS + (0x100 - 0x80) + 47 == HASHED_LEN);

/// Word-wise sum of two 16-byte values read as four little-endian u32 words.
fn add_le_words(a: &Block, b: &Block) -> Block {
    let mut out = [0u8; 16];
    for ((dst, x), y) in out
        .chunks_exact_mut(4)
        .zip(a.chunks_exact(4))
        .zip(b.chunks_exact(4))
    {
        let word = |bytes: &[u8]| {
            let mut array = [0u8; 4];
            array.copy_from_slice(bytes);
            u32::from_le_bytes(array)
        };
        dst.copy_from_slice(&word(x).wrapping_add(word(y)).to_le_bytes());
    }
    out
}

/// The session key for a stage-2 request of `mode` whose encrypted body is `body`.
pub(super) fn derive(mode: Mode, body: &[Block; BODY_BLOCKS]) -> Block {
    let plain = decrypt_body(mode, body);
    let sources = STATIC_SOURCE_1
        .iter()
        .chain(&plain)
        .chain(&DEFAULT_SAP[DEFAULT_SAP_PART])
        .chain(&STATIC_SOURCE_2);
    let mut hashed = [0u8; HASHED_LEN];
    for (dst, &src) in hashed.iter_mut().zip(sources) {
        *dst = src;
    }

    let mut key = INITIAL_SESSION_KEY;
    let (blocks, _) = hashed.as_chunks::<64>();
    for block in blocks {
        let md5 = modified_md5::compress(block, &key);
        key = add_le_words(&sap_hash::hash(block), &md5);
    }

    // Each 4-byte word is reversed (the words become big-endian), then every byte whitened.
    for word in key.chunks_exact_mut(4) {
        word.reverse();
    }
    key.map(|byte| byte ^ KEY_WHITENING)
}

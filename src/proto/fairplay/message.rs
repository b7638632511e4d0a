//! Decryption of the 128-byte body of the fp-setup stage-2 request ("keymsg").
//!
//! Owns: the mode-keyed block decryption and its CBC chaining. The body is eight 16-byte blocks
//! (request bytes 16..144) in CBC mode: each decrypted block is XORed with the ciphertext block
//! before it, the first with `MESSAGE_IV[mode]`. (The reference walks mode 3 from the last
//! block down, but CBC decryption of a block depends only on ciphertext, so the order does not
//! change the result.) One block decryption is nine rounds of "inverse row shift through
//! per-position boxes (`TABLE_S2`) XOR the mode's round key, then mix columns through
//! `TABLE_S9`", followed by one more inverse row shift through `TABLE_S10`. Must not touch the
//! hashing that turns the plaintext into the session key (`session_key`).

use super::Mode;
use super::block::{Block, columns, from_le_words, inv_shift_substitute, xor};
use super::tables::{MESSAGE_IV, MESSAGE_KEY, TABLE_S2, TABLE_S9, TABLE_S10};

/// Blocks in the encrypted body.
pub(super) const BODY_BLOCKS: usize = 8;
/// Rounds with a column mix in one block decryption.
const ROUNDS: usize = 9;

/// `TABLE_S2` row for key position `position` (0..144) of the mode key.
fn s2_row(position: usize) -> &'static [u8; 256] {
    &TABLE_S2[(97 * position) % TABLE_S2.len()]
}

/// Mixes each column: byte `k` of a column selects a word from row `k` of `TABLE_S9`.
fn mix_columns(block: &Block) -> Block {
    let [row0, row1, row2, row3] = &TABLE_S9;
    let words = columns(block).map(|[b0, b1, b2, b3]| {
        row0[usize::from(b0)]
            ^ row1[usize::from(b1)]
            ^ row2[usize::from(b2)]
            ^ row3[usize::from(b3)]
    });
    from_le_words(words)
}

/// Decrypts one block (without the CBC XOR) under the mode key.
fn decrypt_block(block: &Block, mode_key: &[u8; 16 * ROUNDS]) -> Block {
    let mut state = *block;
    // The nine 16-byte round keys are consumed from the end of the mode key (offset 0x80 first).
    for (index, round_key) in mode_key.chunks_exact(16).enumerate().rev() {
        let key_offset = 16 * index;
        state = inv_shift_substitute(&state, |dest, byte| {
            s2_row(key_offset + dest)[usize::from(byte)] ^ round_key[dest]
        });
        state = mix_columns(&state);
    }
    inv_shift_substitute(&state, |dest, byte| TABLE_S10[dest][usize::from(byte)])
}

/// Decrypts the eight body blocks of a stage-2 request into the 128-byte plaintext.
pub(super) fn decrypt_body(mode: Mode, body: &[Block; BODY_BLOCKS]) -> [u8; 16 * BODY_BLOCKS] {
    let mode_key = mode.pick(&MESSAGE_KEY);
    let mut previous = *mode.pick(&MESSAGE_IV);
    let mut plain = [0u8; 16 * BODY_BLOCKS];
    for (out, cipher_block) in plain.chunks_exact_mut(16).zip(body) {
        out.copy_from_slice(&xor(&decrypt_block(cipher_block, mode_key), &previous));
        previous = *cipher_block;
    }
    plain
}

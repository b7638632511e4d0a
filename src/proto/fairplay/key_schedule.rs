//! The FairPlay key schedule: expands a 16-byte key into eleven 16-byte round keys.
//!
//! Owns: the expansion only. It has AES-128's shape (each new first word is the old first word
//! XOR a substituted, rotated last word XOR a round constant; each later word is the old word
//! XOR the new word before it) but the key is first whitened with `T_KEY`, and every byte
//! position of every round has its own substitution row in `TABLE_S1`. Must not touch the
//! block decryption that consumes the schedule (`cycle`).

use super::block::{Block, xor};
use super::tables::{INDEX_MANGLE, T_KEY, TABLE_S1};

/// Number of round keys: the initial whitening key plus ten rounds.
pub(super) const ROUND_KEYS: usize = 11;

/// Eleven round keys, each stored as the 16 bytes it XORs into a block.
pub(super) type KeySchedule = [Block; ROUND_KEYS];

/// Which `TABLE_S1` row substitutes the `n`-th byte looked up during expansion.
fn s1_row(n: usize) -> &'static [u8; 256] {
    &TABLE_S1[(31 * n) % TABLE_S1.len()]
}

/// Expands `key_material` into the schedule; round key `r` is the state before step `r`.
pub(super) fn expand(key_material: &Block) -> KeySchedule {
    let mut state = xor(key_material, &T_KEY);
    let mut schedule = [[0u8; 16]; ROUND_KEYS];
    for (round, (round_key, &constant)) in schedule.iter_mut().zip(INDEX_MANGLE.iter()).enumerate()
    {
        *round_key = state;
        // The last word, rotated by one byte, goes through four substitution rows.
        let first_row = 4 * round;
        let rotated_last = [state[13], state[14], state[15], state[12]];
        for (k, &byte) in rotated_last.iter().enumerate() {
            state[k] ^= s1_row(first_row + k)[usize::from(byte)];
        }
        state[0] ^= constant;
        // Words 1..3 each absorb the (already updated) word before them.
        for word in 1..4 {
            for byte in 0..4 {
                state[4 * word + byte] ^= state[4 * (word - 1) + byte];
            }
        }
    }
    schedule
}

//! The table-driven block decryption applied to the `ekey` block (a white-box AES-like cipher).
//!
//! Owns: one 16-byte block decryption under a given key schedule. The round structure is that
//! of AES decryption with its steps folded into tables: whitening with the last round key, an
//! inverse row shift through per-position boxes (`TABLE_S3`), then nine rounds of "add round
//! key, mix each column through four word tables (`TABLE_S5`..`TABLE_S8`), inverse row shift
//! through per-round, per-position boxes (`TABLE_S4`)", and a final whitening with round key 0.
//! Must not touch: key derivation (`session_key`, `key_schedule`).

use super::block::{Block, columns, from_le_words, inv_shift_substitute, xor};
use super::key_schedule::{KeySchedule, ROUND_KEYS};
use super::tables::{TABLE_S3, TABLE_S4, TABLE_S5, TABLE_S6, TABLE_S7, TABLE_S8};

/// The middle rounds (those with a column mix).
const MIX_ROUNDS: usize = 9;

/// `TABLE_S3` row that substitutes the byte landing at each position in the first shift.
const S3_ROW_FOR_DEST: [usize; 16] = [
    0x0, 0x5, 0xa, 0xf, 0x4, 0x9, 0xe, 0x3, 0x8, 0xd, 0x2, 0x7, 0xc, 0x1, 0x6, 0xb,
];

/// `TABLE_S4` row for the byte landing at `dest` after the shift of table round `round` (8..=0).
fn s4_row(round: usize, dest: usize) -> &'static [u8; 256] {
    &TABLE_S4[(71 * (16 * round + dest)) % TABLE_S4.len()]
}

/// Mixes each column: the four bytes select four words whose XOR becomes the new column.
fn mix_columns(block: &Block) -> Block {
    let words = columns(block).map(|[b0, b1, b2, b3]| {
        TABLE_S8[usize::from(b0)]
            ^ TABLE_S7[usize::from(b1)]
            ^ TABLE_S6[usize::from(b2)]
            ^ TABLE_S5[usize::from(b3)]
    });
    from_le_words(words)
}

/// Decrypts `block` in place with `schedule`.
pub(super) fn decrypt_block(block: &mut Block, schedule: &KeySchedule) {
    let [first_key, middle_keys @ .., last_key] = schedule;
    let mut state = xor(block, last_key);
    state = inv_shift_substitute(&state, |dest, byte| {
        TABLE_S3[S3_ROW_FOR_DEST[dest]][usize::from(byte)]
    });
    // Round keys 9 down to 1, paired with table rounds 8 down to 0.
    debug_assert_eq!(middle_keys.len(), ROUND_KEYS - 2);
    for (step, round_key) in middle_keys.iter().rev().enumerate() {
        let table_round = MIX_ROUNDS - 1 - step;
        state = mix_columns(&xor(&state, round_key));
        state = inv_shift_substitute(&state, |dest, byte| {
            s4_row(table_round, dest)[usize::from(byte)]
        });
    }
    *block = xor(&state, first_key);
}

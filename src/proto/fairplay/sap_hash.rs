//! The "SAP hash": the second of the two hashes mixed into the session key.
//!
//! Owns: spreading one 64-byte block over a 210-byte buffer, scrambling it, garbling it
//! together with three small constant buffers (`garble`), and folding everything into 16
//! bytes. Must not touch the modified MD5 or how the two hashes combine (`session_key`).
//!
//! Index arithmetic note: the reference computes indices such as `(i - 155) mod 210` on an
//! `int` converted to 32-bit unsigned, so a negative difference wraps to `2^32 - n` before the
//! modulo. `wrapped_index` reproduces that; Rust's `%` (or `rem_euclid`) on a signed value
//! would pick different bytes.

use super::garble::GarbleBuffers;
use super::tables::{SAP_BUFFER0, SAP_BUFFER2, SAP_BUFFER4, SAP_SLOT_INDEX};

/// Size of the spread-out buffer.
const SPREAD_LEN: usize = 210;
/// Passes of the scrambling loop over the spread-out buffer (four times around).
const SCRAMBLE_STEPS: u32 = 840;
/// Fill byte of the output before the buffers are folded in.
const OUTPUT_FILL: u8 = 0xe1;
/// Output byte 3 is forced to this value instead of taking a garbled slot.
const FORCED_BYTE3: u8 = 0x3d;
/// Passes of the final diffusion over the 16 output bytes.
const DIFFUSION_PASSES: usize = 16;

/// `(i - back) mod len` with the difference first taken as a 32-bit unsigned integer.
fn wrapped_index(i: u32, back: u32, len: u32) -> usize {
    (i.wrapping_sub(back) % len) as usize
}

/// Spreads the 64-byte block over 210 bytes: every 4-byte group is reversed (the reference
/// reads it as a little-endian word and takes its bytes from the top), repeating after 64.
fn spread(block: &[u8; 64]) -> [u8; SPREAD_LEN] {
    core::array::from_fn(|i| {
        let within = i % 64;
        block[(within & !3) + (3 - within % 4)]
    })
}

/// Four passes of `b[i] = rol(b[i-57], 5) + (rol(b[i-13], 3) ^ b[i]) - rol(b[i-155], 7)`,
/// all indices modulo 210 as in `wrapped_index`.
fn scramble(buffer: &mut [u8; SPREAD_LEN]) {
    let len = SPREAD_LEN as u32;
    for i in 0..SCRAMBLE_STEPS {
        let x = buffer[wrapped_index(i, 155, len)];
        let y = buffer[wrapped_index(i, 57, len)];
        let z = buffer[wrapped_index(i, 13, len)];
        let at = wrapped_index(i, 0, len);
        let w = buffer[at];
        buffer[at] = y
            .rotate_left(5)
            .wrapping_add(z.rotate_left(3) ^ w)
            .wrapping_sub(x.rotate_left(7));
    }
}

/// XORs `bytes` into `out`, wrapping around every 16 bytes.
fn fold_into(out: &mut [u8; 16], bytes: &[u8]) {
    for (i, &value) in bytes.iter().enumerate() {
        out[i % 16] ^= value;
    }
}

/// Hashes one 64-byte block into 16 bytes.
pub(super) fn hash(block: &[u8; 64]) -> [u8; 16] {
    let mut buffers = GarbleBuffers {
        b0: SAP_BUFFER0,
        b1: spread(block),
        b2: SAP_BUFFER2,
        b3: [0u8; 132],
        b4: SAP_BUFFER4,
    };
    scramble(&mut buffers.b1);
    buffers.garble();

    let mut out = [OUTPUT_FILL; 16];
    for (position, (byte, &slot)) in out.iter_mut().zip(SAP_SLOT_INDEX.iter()).enumerate() {
        *byte = if position == 3 {
            FORCED_BYTE3
        } else {
            // Slot indices are checked at build time to lie in 0..=32, so 4 * slot < 132.
            byte.wrapping_add(buffers.b3[4 * slot])
        };
    }
    fold_into(&mut out, &buffers.b0);
    fold_into(&mut out, &buffers.b2);
    fold_into(&mut out, &buffers.b1);

    for _ in 0..DIFFUSION_PASSES {
        for i in 0..16u32 {
            let x = out[wrapped_index(i, 7, 16)];
            let y = out[wrapped_index(i, 0, 16)];
            let z = out[wrapped_index(i, 37, 16)];
            let w = out[wrapped_index(i, 177, 16)];
            out[wrapped_index(i, 0, 16)] =
                x.rotate_left(1) ^ y ^ z.rotate_left(6) ^ w.rotate_left(5);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_index_matches_unsigned_32_bit_modulo() {
        // 2^32 mod 210 = 46, so (0 - 155) wraps to (46 - 155) mod 210 = 101.
        assert_eq!(wrapped_index(0, 155, 210), 101);
        assert_eq!(
            wrapped_index(154, 155, 210),
            ((1u64 << 32) - 1) as usize % 210
        );
        assert_eq!(wrapped_index(155, 155, 210), 0);
        assert_eq!(wrapped_index(839, 0, 210), 839 % 210);
        // A signed remainder would disagree: (-155).rem_euclid(210) = 55.
        assert_ne!(
            wrapped_index(0, 155, 210),
            (-155i32).rem_euclid(210) as usize
        );
    }

    #[test]
    fn spread_reverses_each_word_and_repeats() {
        let block: [u8; 64] = core::array::from_fn(|i| i as u8);
        let spread = spread(&block);
        assert_eq!(spread[..8], [3, 2, 1, 0, 7, 6, 5, 4]);
        assert_eq!(spread[64..68], [3, 2, 1, 0]);
        assert_eq!(spread[208..210], [19, 18]);
    }
}

//! FairPlay's modified MD5 compression: one of the two hashes mixed into the session key.
//!
//! Owns: a single 64-step MD5 compression of one 64-byte block, chained from a 16-byte key,
//! with FairPlay's three departures from MD5: the block's words are read big-endian (the chain
//! words stay little-endian), there is no padding or length, and after step 31 five pairs of
//! block words are swapped, chosen by the low nibbles of the chain state. Must not touch the
//! other hash (`sap_hash`) or how the two are combined (`session_key`).

use super::tables::MD5_SHIFT;

/// MD5's additive constants, `floor(2^32 * |sin(i + 1)|)` (RFC 1321 table T).
const MD5_T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The step after which block words are swapped.
const SWAP_AFTER_STEP: usize = 31;

/// The four chain words of a 16-byte key, little-endian.
fn chain_words(key: &[u8; 16]) -> [u32; 4] {
    let mut words = [0u32; 4];
    for (word, chunk) in words.iter_mut().zip(key.chunks_exact(4)) {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        *word = u32::from_le_bytes(bytes);
    }
    words
}

/// The round function and message-word index of MD5 step `step` (0..64).
fn round_function(step: usize, b: u32, c: u32, d: u32) -> (u32, usize) {
    match step / 16 {
        0 => ((b & c) | (!b & d), step),
        1 => ((b & d) | (c & !d), (5 * step + 1) % 16),
        2 => (b ^ c ^ d, (3 * step + 5) % 16),
        _ => (c ^ (b | !d), (7 * step) % 16),
    }
}

/// Swaps block words chosen by nibbles of the chain state (`a`..`d` after step 31).
fn swap_words(words: &mut [u32; 16], a: u32, b: u32, c: u32, d: u32) {
    let nibble = |value: u32, shift: u32| ((value >> shift) & 0xf) as usize;
    words.swap(nibble(a, 0), nibble(b, 0));
    words.swap(nibble(c, 0), nibble(d, 0));
    words.swap(nibble(a, 4), nibble(b, 4));
    words.swap(nibble(a, 8), nibble(b, 8));
    words.swap(nibble(a, 12), nibble(b, 12));
}

/// Compresses `block` under `key` and returns the new 16-byte chain value.
pub(super) fn compress(block: &[u8; 64], key: &[u8; 16]) -> [u8; 16] {
    let mut words = [0u32; 16];
    for (word, chunk) in words.iter_mut().zip(block.chunks_exact(4)) {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        *word = u32::from_be_bytes(bytes);
    }
    let start = chain_words(key);
    let [mut a, mut b, mut c, mut d] = start;
    for (step, (&constant, &shift)) in MD5_T.iter().zip(MD5_SHIFT.iter()).enumerate() {
        let (mixed, index) = round_function(step, b, c, d);
        // `index` is below 16 by construction of `round_function`.
        let sum = a
            .wrapping_add(words[index])
            .wrapping_add(constant)
            .wrapping_add(mixed);
        // MD5_SHIFT entries are checked at build time to lie in 1..=31.
        let rotated = sum.rotate_left(shift as u32).wrapping_add(b);
        (a, b, c, d) = (d, rotated, b, c);
        if step == SWAP_AFTER_STEP {
            swap_words(&mut words, a, b, c, d);
        }
    }
    let mut out = [0u8; 16];
    for ((chunk, initial), value) in out.chunks_exact_mut(4).zip(start).zip([a, b, c, d]) {
        chunk.copy_from_slice(&initial.wrapping_add(value).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_constants_follow_the_sine_formula() {
        for (i, &t) in MD5_T.iter().enumerate() {
            let expected = ((1u64 << 32) as f64 * ((i + 1) as f64).sin().abs()).floor() as u64;
            assert_eq!(u64::from(t), expected, "T[{i}]");
        }
    }
}

//! 16-byte block helpers shared by FairPlay's two table-driven block decryptions.
//!
//! Owns: the byte layout of a block (AES-style: byte `4 * column + row`), the inverse row shift
//! fused with a per-position substitution, and XOR. Must not touch: the tables themselves or
//! any key material; callers pass those in.

/// A 16-byte block, laid out column by column as in AES.
pub(super) type Block = [u8; 16];

/// For each destination byte, the source byte of AES's inverse ShiftRows: row `r` of the
/// state moves `r` columns to the right, so byte `4c + r` comes from `4((c - r) mod 4) + r`.
const INV_SHIFT_ROWS_SOURCE: [usize; 16] = [0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3];

/// Shifts the rows back (inverse ShiftRows) and passes every moved byte through `substitute`,
/// which receives the destination position (0..16) and the byte that lands there.
pub(super) fn inv_shift_substitute(
    block: &Block,
    mut substitute: impl FnMut(usize, u8) -> u8,
) -> Block {
    let mut out = [0u8; 16];
    for (dest, (slot, &source)) in out.iter_mut().zip(INV_SHIFT_ROWS_SOURCE.iter()).enumerate() {
        // `source` comes from a constant table of values below 16.
        *slot = substitute(dest, block[source]);
    }
    out
}

/// The `N` consecutive blocks starting at byte `offset` of `bytes`, or `None` if they do not
/// all fit.
pub(super) fn blocks_at<const N: usize>(bytes: &[u8], offset: usize) -> Option<[Block; N]> {
    let end = offset.checked_add(16 * N)?;
    let (chunks, _) = bytes.get(offset..end)?.as_chunks::<16>();
    let mut out = [[0u8; 16]; N];
    for (dst, src) in out.iter_mut().zip(chunks) {
        *dst = *src;
    }
    Some(out)
}

/// `a XOR b`.
pub(super) fn xor(a: &Block, b: &Block) -> Block {
    let mut out = *a;
    out.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
    out
}

/// The four columns of a block, each as its four bytes.
pub(super) fn columns(block: &Block) -> [[u8; 4]; 4] {
    let mut cols = [[0u8; 4]; 4];
    for (col, chunk) in cols.iter_mut().zip(block.chunks_exact(4)) {
        col.copy_from_slice(chunk);
    }
    cols
}

/// Rebuilds a block from four column words, each stored little-endian.
pub(super) fn from_le_words(words: [u32; 4]) -> Block {
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_shift_rows_moves_row_r_right_by_r() {
        let block: Block = core::array::from_fn(|i| i as u8);
        let shifted = inv_shift_substitute(&block, |_, b| b);
        for col in 0..4 {
            for row in 0..4 {
                let from = 4 * ((col + 4 - row) % 4) + row;
                assert_eq!(
                    usize::from(shifted[4 * col + row]),
                    from,
                    "col {col} row {row}"
                );
            }
        }
    }

    #[test]
    fn substitution_sees_destination_positions() {
        let shifted = inv_shift_substitute(&[0u8; 16], |dest, _| dest as u8);
        let expected: Block = core::array::from_fn(|i| i as u8);
        assert_eq!(shifted, expected);
    }

    #[test]
    fn blocks_at_stays_inside_the_input() {
        let bytes: Vec<u8> = (0..40).collect();
        let [second] = blocks_at::<1>(&bytes, 16).expect("fits");
        assert_eq!(second[0], 16);
        assert_eq!(
            blocks_at::<1>(&bytes, 24),
            Some([core::array::from_fn(|i| 24 + i as u8)])
        );
        assert_eq!(blocks_at::<1>(&bytes, 25), None);
        assert_eq!(blocks_at::<2>(&bytes, 16), None);
        assert_eq!(blocks_at::<1>(&bytes, usize::MAX), None);
    }

    #[test]
    fn words_round_trip_little_endian() {
        let block = from_le_words([0x0302_0100, 0x0706_0504, 0x0b0a_0908, 0x0f0e_0d0c]);
        let expected: Block = core::array::from_fn(|i| i as u8);
        assert_eq!(block, expected);
        assert_eq!(columns(&block)[2], [8, 9, 10, 11]);
    }
}

//! The FairPlay constant tables, decoded at compile time from `tables/*.bin`.
//!
//! Owns: turning the raw table files (described in `tables/manifest.json`) into typed,
//! fixed-shape arrays. Every decode runs in a `static` initializer, so a file of the wrong size
//! or a value out of range stops the build instead of failing at run time. Must not touch: any
//! algorithm; the other files only read these arrays.
//!
//! Shapes: byte tables that are consulted "one 256-entry row at a time" are stored as rows, so
//! that looking one up with a byte can never go out of bounds.

/// Bytes of one little-endian 32-bit table element.
const WORD_BYTES: usize = 4;

/// Splits a flat byte table into `R` rows of `C` bytes; the length must be exactly `R * C`.
const fn byte_rows<const R: usize, const C: usize>(flat: &[u8]) -> [[u8; C]; R] {
    assert!(flat.len() == R * C, "byte table has the wrong size");
    let mut rows = [[0u8; C]; R];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            rows[r][c] = flat[r * C + c];
            c += 1;
        }
        r += 1;
    }
    rows
}

/// Decodes `R` rows of `C` little-endian u32 words; the length must be exactly `4 * R * C`.
const fn word_rows<const R: usize, const C: usize>(flat: &[u8]) -> [[u32; C]; R] {
    assert!(
        flat.len() == WORD_BYTES * R * C,
        "u32le table has the wrong size"
    );
    let mut rows = [[0u32; C]; R];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            let at = WORD_BYTES * (r * C + c);
            rows[r][c] = u32::from_le_bytes([flat[at], flat[at + 1], flat[at + 2], flat[at + 3]]);
            c += 1;
        }
        r += 1;
    }
    rows
}

/// Decodes one row of `N` little-endian u32 words.
const fn words<const N: usize>(flat: &[u8]) -> [u32; N] {
    let [row] = word_rows::<1, N>(flat);
    row
}

/// Decodes `N` little-endian i32 values, each of which must lie in `min..=max`, as `usize`.
const fn bounded_i32s<const N: usize>(flat: &[u8], min: i32, max: i32) -> [usize; N] {
    assert!(
        flat.len() == WORD_BYTES * N,
        "i32le table has the wrong size"
    );
    assert!(min >= 0, "bounded_i32s only yields non-negative values");
    let mut out = [0usize; N];
    let mut i = 0;
    while i < N {
        let at = WORD_BYTES * i;
        let value = i32::from_le_bytes([flat[at], flat[at + 1], flat[at + 2], flat[at + 3]]);
        assert!(
            value >= min && value <= max,
            "i32le table value out of range"
        );
        // In range and non-negative, so the conversion is exact.
        out[i] = value as usize;
        i += 1;
    }
    out
}

// --- fp-setup replies (UxPlay lib/fairplay_playfair.c) ---

/// The four fixed 142-byte stage-1 replies, indexed by mode.
pub(super) static REPLY_MESSAGE: [[u8; 142]; 4] =
    byte_rows(include_bytes!("tables/reply_message.bin"));
/// The 12-byte header of the stage-2 reply.
pub(super) static FP_HEADER: [u8; 12] = *include_bytes!("tables/fp_header.bin");

// --- block cipher whitening and round tables (omg_hax.h) ---

/// Per-mode round keys used while decrypting the stage-2 message (nine rounds of 16 bytes).
pub(super) static MESSAGE_KEY: [[u8; 144]; 4] = byte_rows(include_bytes!("tables/message_key.bin"));
/// Per-mode CBC initial vector of the stage-2 message.
pub(super) static MESSAGE_IV: [[u8; 16]; 4] = byte_rows(include_bytes!("tables/message_iv.bin"));
/// Whitening applied to the `ekey` block before and to the key after the block decryption.
pub(super) static Z_KEY: [u8; 16] = *include_bytes!("tables/z_key.bin");
/// Whitening applied to the recovered key.
pub(super) static X_KEY: [u8; 16] = *include_bytes!("tables/x_key.bin");
/// Whitening applied to key material before it is expanded into a key schedule.
pub(super) static T_KEY: [u8; 16] = *include_bytes!("tables/t_key.bin");
/// Key-schedule substitution boxes: 40 rows of 256.
pub(super) static TABLE_S1: [[u8; 256]; 40] = byte_rows(include_bytes!("tables/table_s1.bin"));
/// Stage-2 message substitution boxes: 144 rows of 256.
pub(super) static TABLE_S2: [[u8; 256]; 144] = byte_rows(include_bytes!("tables/table_s2.bin"));
/// First substitution of the `ekey` block decryption: 16 rows of 256.
pub(super) static TABLE_S3: [[u8; 256]; 16] = byte_rows(include_bytes!("tables/table_s3.bin"));
/// Per-round substitutions of the `ekey` block decryption: 144 rows of 256.
pub(super) static TABLE_S4: [[u8; 256]; 144] = byte_rows(include_bytes!("tables/table_s4.bin"));
/// Column-mix tables of the `ekey` block decryption, one per byte of a column.
pub(super) static TABLE_S5: [u32; 256] = words(include_bytes!("tables/table_s5.bin"));
pub(super) static TABLE_S6: [u32; 256] = words(include_bytes!("tables/table_s6.bin"));
pub(super) static TABLE_S7: [u32; 256] = words(include_bytes!("tables/table_s7.bin"));
pub(super) static TABLE_S8: [u32; 256] = words(include_bytes!("tables/table_s8.bin"));
/// Column-mix tables of the stage-2 message decryption: row k serves byte k of a column.
pub(super) static TABLE_S9: [[u32; 256]; 4] = word_rows(include_bytes!("tables/table_s9.bin"));
/// Final substitution of the stage-2 message decryption: 16 rows of 256.
pub(super) static TABLE_S10: [[u8; 256]; 16] = byte_rows(include_bytes!("tables/table_s10.bin"));

// --- session key derivation (omg_hax.c) ---

/// Round constants of the key schedule (AES's rcon sequence, extended to 11 entries).
pub(super) static INDEX_MANGLE: [u8; 11] = *include_bytes!("tables/index_mangle.bin");
/// Starting value of the session key, and the key of its five hashing rounds.
pub(super) static INITIAL_SESSION_KEY: [u8; 16] = *include_bytes!("tables/initial_session_key.bin");
/// First 17 bytes of the 320-byte buffer hashed into the session key.
pub(super) static STATIC_SOURCE_1: [u8; 17] = *include_bytes!("tables/static_source_1.bin");
/// Last 47 bytes of the 320-byte buffer hashed into the session key.
pub(super) static STATIC_SOURCE_2: [u8; 47] = *include_bytes!("tables/static_source_2.bin");
/// The receiver's built-in SAP blob; bytes 0x80..0x100 enter the session key.
pub(super) static DEFAULT_SAP: [u8; 276] = *include_bytes!("tables/default_sap.bin");

// --- sap hash (sap_hash.c) and modified MD5 (modified_md5.c) ---

/// Starting contents of the three small garbling buffers.
pub(super) static SAP_BUFFER0: [u8; 20] = *include_bytes!("tables/buffer0.bin");
pub(super) static SAP_BUFFER2: [u8; 35] = *include_bytes!("tables/buffer2.bin");
pub(super) static SAP_BUFFER4: [u8; 21] = *include_bytes!("tables/buffer4.bin");
/// Which 4-byte slot of the garbled buffer feeds each of the first 11 output bytes (0..=32).
pub(super) static SAP_SLOT_INDEX: [usize; 11] =
    bounded_i32s(include_bytes!("tables/i0_index.bin"), 0, 32);
/// Left-rotation amounts of the 64 MD5 steps (1..=31).
pub(super) static MD5_SHIFT: [usize; 64] = bounded_i32s(include_bytes!("tables/shift.bin"), 1, 31);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_tables_are_little_endian() {
        let decoded = words::<2>(&[0x01, 0x02, 0x03, 0x04, 0xff, 0x00, 0x00, 0x80]);
        assert_eq!(decoded, [0x0403_0201, 0x8000_00ff]);
    }

    #[test]
    fn replies_carry_their_mode() {
        for (mode, reply) in REPLY_MESSAGE.iter().enumerate() {
            assert_eq!(&reply[..4], b"FPLY");
            assert_eq!(usize::from(reply[13]), mode);
        }
    }

    #[test]
    fn md5_shift_is_the_standard_schedule() {
        let per_round = [
            [7, 12, 17, 22],
            [5, 9, 14, 20],
            [4, 11, 16, 23],
            [6, 10, 15, 21],
        ];
        for (step, &amount) in MD5_SHIFT.iter().enumerate() {
            assert_eq!(amount, per_round[step / 16][step % 4], "step {step}");
        }
    }
}

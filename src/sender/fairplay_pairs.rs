//! Recorded FairPlay material for the built-in sender.
//!
//! FairPlay's sender side is not public, so the sender replays recorded stage-2 messages
//! (`keymsg`) with an `ekey` whose decrypted key it knows (the 8 `ekey_decrypt` entries of the
//! shared test vectors, two per mode, kept as data in `fairplay_pairs.json`). Owns: loading
//! that data and picking one pair per session (round robin). Must not touch the network.

use serde::Deserialize;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::proto::fairplay::{EKEY_LEN, KEY_LEN, STAGE2_REQUEST_LEN};

const PAIRS_JSON: &str = include_str!("fairplay_pairs.json");
/// Byte 12 of the stage-2 message repeats the mode.
const KEYMSG_MODE_AT: usize = 12;

/// Why the recorded data is unusable (a build with a damaged data file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairsError {
    #[error("fairplay_pairs.json does not parse: {0}")]
    Json(String),
    #[error("fairplay pair {index}: {what}")]
    Bad { index: usize, what: String },
    #[error("fairplay_pairs.json holds no pairs")]
    Empty,
}

/// One recorded FairPlay exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    /// FairPlay mode 0..=3 (stage-1 byte 14, stage-2 byte 12).
    pub mode: u8,
    /// The 164-byte stage-2 request.
    pub keymsg: [u8; STAGE2_REQUEST_LEN],
    /// The 72-byte wrapped key sent in SETUP #1.
    pub ekey: [u8; EKEY_LEN],
    /// What the receiver's FairPlay decryption of `ekey` must give.
    pub aeskey: [u8; KEY_LEN],
}

#[derive(Deserialize)]
struct File {
    pairs: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    mode: u8,
    keymsg: String,
    ekey: String,
    aeskey: String,
}

fn fixed<const N: usize>(index: usize, what: &str, text: &str) -> Result<[u8; N], PairsError> {
    let bytes = hex::decode(text).map_err(|e| PairsError::Bad {
        index,
        what: format!("{what} is not hex: {e}"),
    })?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| PairsError::Bad {
        index,
        what: format!("{what} has {len} bytes, want {N}"),
    })
}

/// Parses the recorded pairs from JSON text.
pub fn parse_pairs(json: &str) -> Result<Vec<RecordedKey>, PairsError> {
    let file: File = serde_json::from_str(json).map_err(|e| PairsError::Json(e.to_string()))?;
    let mut out = Vec::with_capacity(file.pairs.len());
    for (index, e) in file.pairs.into_iter().enumerate() {
        let key = RecordedKey {
            mode: e.mode,
            keymsg: fixed(index, "keymsg", &e.keymsg)?,
            ekey: fixed(index, "ekey", &e.ekey)?,
            aeskey: fixed(index, "aeskey", &e.aeskey)?,
        };
        if key.mode > 3 || key.keymsg[KEYMSG_MODE_AT] != key.mode {
            return Err(PairsError::Bad {
                index,
                what: format!("mode {} does not match keymsg byte 12", key.mode),
            });
        }
        out.push(key);
    }
    if out.is_empty() {
        return Err(PairsError::Empty);
    }
    Ok(out)
}

/// The pairs compiled into this binary.
pub fn recorded_keys() -> Result<&'static [RecordedKey], PairsError> {
    static PAIRS: OnceLock<Result<Vec<RecordedKey>, PairsError>> = OnceLock::new();
    match PAIRS.get_or_init(|| parse_pairs(PAIRS_JSON)) {
        Ok(v) => Ok(v.as_slice()),
        Err(e) => Err(e.clone()),
    }
}

/// The next pair, round robin over all of them, so successive sessions use every mode.
pub fn next_recorded_key() -> Result<&'static RecordedKey, PairsError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let keys = recorded_keys()?;
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % keys.len();
    keys.get(i).ok_or(PairsError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::fairplay;

    #[test]
    fn every_recorded_pair_decrypts_to_its_key_on_the_receiver() {
        let keys = recorded_keys().unwrap();
        assert_eq!(keys.len(), 8);
        let mut modes: Vec<u8> = keys.iter().map(|k| k.mode).collect();
        modes.sort_unstable();
        assert_eq!(modes, [0, 0, 1, 1, 2, 2, 3, 3]);
        for k in keys {
            assert_eq!(fairplay::decrypt_key(&k.keymsg, &k.ekey).unwrap(), k.aeskey);
        }
    }

    #[test]
    fn round_robin_visits_every_pair() {
        let n = recorded_keys().unwrap().len();
        let seen: std::collections::HashSet<[u8; 16]> = (0..n)
            .map(|_| next_recorded_key().unwrap().aeskey)
            .collect();
        assert_eq!(seen.len(), n);
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        assert!(matches!(parse_pairs("{"), Err(PairsError::Json(_))));
        assert_eq!(parse_pairs(r#"{"pairs":[]}"#), Err(PairsError::Empty));
        let short = r#"{"pairs":[{"mode":0,"keymsg":"00","ekey":"00","aeskey":"00"}]}"#;
        assert!(matches!(parse_pairs(short), Err(PairsError::Bad { .. })));
    }
}

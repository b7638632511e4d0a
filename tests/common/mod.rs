//! Shared test helpers: loading the known-answer vectors.
//!
//! The vectors come from `../shared/testvectors/airplay_vectors.json` when this checkout sits
//! beside the shared folder (CI and development), else from the copy in `tests/data/`.
#![allow(dead_code)]

pub mod control;
pub mod netns;

use serde_json::Value;
use std::path::PathBuf;

/// The parsed vector file; prefers the shared original, falls back to the committed copy.
pub fn vectors() -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/testvectors/airplay_vectors.json");
    let path = if shared.exists() {
        shared
    } else {
        root.join("tests/data/airplay_vectors.json")
    };
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// One section of the vector file as a non-empty array.
pub fn section(name: &str) -> Vec<Value> {
    let v = vectors();
    let arr = v[name]
        .as_array()
        .unwrap_or_else(|| panic!("vector section {name} missing"))
        .clone();
    assert!(!arr.is_empty(), "vector section {name} is empty");
    arr
}

/// A hex string field decoded to bytes.
pub fn hex_field(entry: &Value, key: &str) -> Vec<u8> {
    let s = entry[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} is not a string"));
    hex::decode(s).unwrap_or_else(|e| panic!("field {key} is not hex: {e}"))
}

/// A hex string field decoded to a fixed-size array.
pub fn hex_array<const N: usize>(entry: &Value, key: &str) -> [u8; N] {
    let v = hex_field(entry, key);
    v.as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("field {key} has {} bytes, want {N}", v.len()))
}

/// An array of hex strings decoded to byte vectors.
pub fn hex_list(entry: &Value, key: &str) -> Vec<Vec<u8>> {
    entry[key]
        .as_array()
        .unwrap_or_else(|| panic!("field {key} is not an array"))
        .iter()
        .map(|s| {
            hex::decode(s.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{key}: {e}"))
        })
        .collect()
}

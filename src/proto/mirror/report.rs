//! Type-5 "streaming report" packets (PROTOCOL.md §5.1): a clear binary plist of client
//! statistics, about once a second, sometimes followed by a ~25 kB trailer of unknown content.
//!
//! Owns: finding where the plist ends and collecting its numeric fields. Must not touch: what
//! the statistics are used for (logging, activity tracking) — that is the caller's.

use std::collections::BTreeMap;
use std::io::Cursor;

const BPLIST_MAGIC: &[u8; 8] = b"bplist00";
const BPLIST_TRAILER_LEN: usize = 32;
/// Nested dictionaries deeper than this are kept in `raw` only.
const MAX_FLATTEN_DEPTH: usize = 4;

/// A parsed report: every integer or real found (nested dictionary keys joined with `.`) plus
/// the whole dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    pub numbers: BTreeMap<String, f64>,
    pub raw: plist::Dictionary,
    /// Bytes the plist occupied; the rest of the payload was trailer.
    pub plist_len: usize,
    pub trailer_len: usize,
}

/// Why a report payload could not be read. Never fatal to the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("empty report payload")]
    Empty,
    #[error("report is not a readable property list: {0}")]
    NotAPlist(String),
    #[error("report plist is not a dictionary")]
    NotADictionary,
}

impl StreamReport {
    /// Parses leniently: the whole payload first, then (for a binary plist followed by a
    /// trailer) the first prefix that ends in a self-consistent bplist trailer.
    pub fn parse(payload: &[u8]) -> Result<Self, ReportError> {
        if payload.is_empty() {
            return Err(ReportError::Empty);
        }
        let mut error = match parse_value(payload) {
            Ok(value) => return Self::from_value(value, payload.len(), payload.len()),
            Err(e) => e,
        };
        if payload.starts_with(BPLIST_MAGIC) {
            for end in candidate_plist_ends(payload) {
                match payload.get(..end).map(parse_value) {
                    Some(Ok(value)) => return Self::from_value(value, end, payload.len()),
                    Some(Err(e)) => error = e,
                    None => break,
                }
            }
        }
        Err(error)
    }

    /// One numeric field by its (dotted) key.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.numbers.get(key).copied()
    }

    fn from_value(
        value: plist::Value,
        plist_len: usize,
        total: usize,
    ) -> Result<Self, ReportError> {
        let raw = value.into_dictionary().ok_or(ReportError::NotADictionary)?;
        let mut numbers = BTreeMap::new();
        collect_numbers(&raw, "", 0, &mut numbers);
        Ok(Self {
            numbers,
            raw,
            plist_len,
            trailer_len: total.saturating_sub(plist_len),
        })
    }
}

fn parse_value(bytes: &[u8]) -> Result<plist::Value, ReportError> {
    plist::Value::from_reader(Cursor::new(bytes)).map_err(|e| ReportError::NotAPlist(e.to_string()))
}

fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Every `end` for which `payload[end-32..end]` reads as a bplist trailer whose offset table
/// ends exactly where the trailer begins, in increasing order.
fn candidate_plist_ends(payload: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let first = BPLIST_MAGIC.len() + 1 + BPLIST_TRAILER_LEN;
    (first..=payload.len()).filter(move |&end| {
        let Some(trailer) = payload.get(end - BPLIST_TRAILER_LEN..end) else {
            return false;
        };
        let (Some(unused), Some(&offset_size), Some(&ref_size)) =
            (trailer.get(..5), trailer.get(6), trailer.get(7))
        else {
            return false;
        };
        let (Some(objects), Some(top), Some(table)) =
            (trailer.get(8..16), trailer.get(16..24), trailer.get(24..32))
        else {
            return false;
        };
        let (objects, top, table) = (be_uint(objects), be_uint(top), be_uint(table));
        let sizes_ok = matches!(offset_size, 1 | 2 | 4 | 8) && matches!(ref_size, 1 | 2 | 4 | 8);
        let table_end = objects
            .checked_mul(u64::from(offset_size))
            .and_then(|len| len.checked_add(table));
        unused.iter().all(|&b| b == 0)
            && sizes_ok
            && objects > 0
            && top < objects
            && table >= BPLIST_MAGIC.len() as u64
            && table_end == Some((end - BPLIST_TRAILER_LEN) as u64)
    })
}

fn collect_numbers(
    dict: &plist::Dictionary,
    prefix: &str,
    depth: usize,
    out: &mut BTreeMap<String, f64>,
) {
    for (key, value) in dict {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            plist::Value::Real(real) => {
                out.insert(name, *real);
            }
            plist::Value::Integer(int) => {
                // Statistics fit an f64 comfortably; huge counters lose only low bits.
                let number = int
                    .as_signed()
                    .map(|v| v as f64)
                    .or_else(|| int.as_unsigned().map(|v| v as f64));
                if let Some(number) = number {
                    out.insert(name, number);
                }
            }
            plist::Value::Dictionary(inner) if depth < MAX_FLATTEN_DEPTH => {
                collect_numbers(inner, &name, depth + 1, out);
            }
            _ => {}
        }
    }
}

//! Safe decoding of the binary property lists clients send (SETUP, GET /info, TEARDOWN).
//!
//! The `plist` crate builds values iteratively, but a hostile body can still hurt: a value
//! nested 100 000 deep overflows the stack when it is dropped, and shared references expand
//! exponentially when materialised ("billion laughs"). So before decoding, the object graph is
//! walked here without recursion, bounding depth and the expanded object count. Only
//! `bplist00` is accepted: AirPlay's control bodies are binary.

use plist::Value;

/// Deepest nesting accepted (real AirPlay bodies nest 3 or 4 levels).
pub const MAX_DEPTH: usize = 32;
/// Most objects after expanding shared references.
pub const MAX_EXPANDED_OBJECTS: usize = 65_536;

const MAGIC: &[u8; 8] = b"bplist00";
const TRAILER_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BplistError {
    #[error("not a binary property list")]
    NotBinary,
    #[error("binary property list is truncated or its tables are out of bounds")]
    Malformed,
    #[error("property list nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("property list expands to more than {MAX_EXPANDED_OBJECTS} objects")]
    TooLarge,
    #[error("property list: {0}")]
    Decode(String),
}

/// Decodes a binary property list after checking its shape.
pub fn parse(body: &[u8]) -> Result<Value, BplistError> {
    check_shape(body)?;
    Value::from_reader(std::io::Cursor::new(body)).map_err(|e| BplistError::Decode(e.to_string()))
}

fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

struct Layout<'a> {
    data: &'a [u8],
    offset_size: usize,
    ref_size: usize,
    num_objects: u64,
    table: usize,
}

impl Layout<'_> {
    fn object_offset(&self, index: u64) -> Result<usize, BplistError> {
        if index >= self.num_objects {
            return Err(BplistError::Malformed);
        }
        let at = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(self.offset_size))
            .and_then(|o| o.checked_add(self.table))
            .ok_or(BplistError::Malformed)?;
        let raw = self
            .data
            .get(at..at + self.offset_size)
            .ok_or(BplistError::Malformed)?;
        let off = usize::try_from(be_uint(raw)).map_err(|_| BplistError::Malformed)?;
        if off < MAGIC.len() || off >= self.table {
            return Err(BplistError::Malformed);
        }
        Ok(off)
    }

    /// The child references of the collection at `off`, or none for a scalar.
    fn children(&self, off: usize) -> Result<Vec<u64>, BplistError> {
        let marker = *self.data.get(off).ok_or(BplistError::Malformed)?;
        let kind = marker >> 4;
        if !matches!(kind, 0xA | 0xC | 0xD) {
            return Ok(Vec::new());
        }
        let (count, mut pos) = self.count(marker, off + 1)?;
        let refs = if kind == 0xD {
            count.checked_mul(2).ok_or(BplistError::Malformed)?
        } else {
            count
        };
        let bytes = refs
            .checked_mul(self.ref_size)
            .ok_or(BplistError::Malformed)?;
        if pos.checked_add(bytes).is_none_or(|end| end > self.table) {
            return Err(BplistError::Malformed);
        }
        let mut out = Vec::with_capacity(refs);
        for _ in 0..refs {
            out.push(be_uint(&self.data[pos..pos + self.ref_size]));
            pos += self.ref_size;
        }
        Ok(out)
    }

    /// A collection's element count: the marker's low nibble, or a following integer.
    fn count(&self, marker: u8, pos: usize) -> Result<(usize, usize), BplistError> {
        let low = marker & 0x0F;
        if low != 0x0F {
            return Ok((usize::from(low), pos));
        }
        let int_marker = *self.data.get(pos).ok_or(BplistError::Malformed)?;
        if int_marker >> 4 != 0x1 || int_marker & 0x0F > 3 {
            return Err(BplistError::Malformed);
        }
        let len = 1usize << (int_marker & 0x0F);
        let raw = self
            .data
            .get(pos + 1..pos + 1 + len)
            .ok_or(BplistError::Malformed)?;
        let n = usize::try_from(be_uint(raw)).map_err(|_| BplistError::Malformed)?;
        Ok((n, pos + 1 + len))
    }
}

fn check_shape(data: &[u8]) -> Result<(), BplistError> {
    if data.len() < MAGIC.len() + TRAILER_LEN || &data[..MAGIC.len()] != MAGIC {
        return Err(BplistError::NotBinary);
    }
    let trailer = &data[data.len() - TRAILER_LEN..];
    let offset_size = usize::from(trailer[6]);
    let ref_size = usize::from(trailer[7]);
    let num_objects = be_uint(&trailer[8..16]);
    let top = be_uint(&trailer[16..24]);
    let table = usize::try_from(be_uint(&trailer[24..32])).map_err(|_| BplistError::Malformed)?;
    if !(1..=8).contains(&offset_size) || !(1..=8).contains(&ref_size) {
        return Err(BplistError::Malformed);
    }
    let table_len = usize::try_from(num_objects)
        .ok()
        .and_then(|n| n.checked_mul(offset_size))
        .ok_or(BplistError::Malformed)?;
    if table < MAGIC.len()
        || table
            .checked_add(table_len)
            .is_none_or(|end| end > data.len() - TRAILER_LEN)
    {
        return Err(BplistError::Malformed);
    }
    let layout = Layout {
        data,
        offset_size,
        ref_size,
        num_objects,
        table,
    };
    // Depth-first walk with an explicit stack of (object, depth). Limits are checked before
    // children are pushed, so the stack never holds more than MAX_EXPANDED_OBJECTS entries
    // (one collection may name a million children, all itself).
    let mut stack = vec![(top, 1usize)];
    let mut expanded = 1usize;
    while let Some((index, depth)) = stack.pop() {
        let off = layout.object_offset(index)?;
        let children = layout.children(off)?;
        if children.is_empty() {
            continue;
        }
        expanded = expanded.saturating_add(children.len());
        if expanded > MAX_EXPANDED_OBJECTS {
            return Err(BplistError::TooLarge);
        }
        if depth + 1 > MAX_DEPTH {
            return Err(BplistError::TooDeep);
        }
        stack.extend(children.into_iter().map(|child| (child, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        plist::to_writer_binary(&mut out, v).unwrap();
        out
    }

    #[test]
    fn real_shaped_bodies_pass() {
        let mut d = plist::Dictionary::new();
        let mut s = plist::Dictionary::new();
        s.insert("type".into(), Value::Integer(110.into()));
        d.insert("streams".into(), Value::Array(vec![Value::Dictionary(s)]));
        d.insert("ekey".into(), Value::Data(vec![1; 72]));
        let v = Value::Dictionary(d);
        assert_eq!(parse(&encode(&v)).unwrap(), v);
        let empty = Value::Dictionary(plist::Dictionary::new());
        assert_eq!(parse(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut v = Value::Array(vec![]);
        for _ in 0..(MAX_DEPTH + 1) {
            v = Value::Array(vec![v]);
        }
        assert_eq!(parse(&encode(&v)), Err(BplistError::TooDeep));
    }

    #[test]
    fn rejects_shared_reference_expansion() {
        // Each level refers to the previous one twice: 2^30 objects once expanded.
        let mut out = b"bplist00".to_vec();
        let mut offsets = vec![out.len() as u8];
        out.push(0x10); // integer 0
        for i in 0..30u8 {
            offsets.push(out.len() as u8);
            out.extend_from_slice(&[0xA2, i, i]);
        }
        let table = out.len() as u64;
        out.extend_from_slice(&offsets);
        let mut trailer = [0u8; 32];
        trailer[6] = 1;
        trailer[7] = 1;
        trailer[8..16].copy_from_slice(&(offsets.len() as u64).to_be_bytes());
        trailer[16..24].copy_from_slice(&30u64.to_be_bytes());
        trailer[24..32].copy_from_slice(&table.to_be_bytes());
        out.extend_from_slice(&trailer);
        assert_eq!(parse(&out), Err(BplistError::TooLarge));
    }

    #[test]
    fn rejects_a_wide_self_referencing_array_before_expanding_it() {
        // Object 0: an array of 200 000 one-byte refs, every one pointing at object 0.
        let count: u32 = 200_000;
        let mut out = b"bplist00".to_vec();
        out.push(0xAF);
        out.push(0x12);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend(std::iter::repeat_n(0u8, count as usize));
        let table = out.len() as u64;
        out.extend_from_slice(&8u32.to_be_bytes());
        let mut trailer = [0u8; 32];
        trailer[6] = 4;
        trailer[7] = 1;
        trailer[8..16].copy_from_slice(&1u64.to_be_bytes());
        trailer[24..32].copy_from_slice(&table.to_be_bytes());
        out.extend_from_slice(&trailer);
        assert_eq!(parse(&out), Err(BplistError::TooLarge));
    }

    #[test]
    fn rejects_garbage_and_xml() {
        assert_eq!(parse(b"hello"), Err(BplistError::NotBinary));
        assert_eq!(
            parse(b"<?xml version=\"1.0\"?><plist><dict/></plist>"),
            Err(BplistError::NotBinary)
        );
        let mut junk = b"bplist00".to_vec();
        junk.extend_from_slice(&[0xff; 40]);
        assert!(parse(&junk).is_err());
    }

    #[test]
    fn never_panics_on_truncations() {
        let mut d = plist::Dictionary::new();
        d.insert(
            "qualifier".into(),
            Value::Array(vec![Value::String("txtAirPlay".into())]),
        );
        let bytes = encode(&Value::Dictionary(d));
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = parse(&b);
        }
    }
}

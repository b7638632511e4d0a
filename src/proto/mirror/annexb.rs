//! NAL framing: the mirror stream's 4-byte big-endian length prefixes (AVCC) versus the Annex-B
//! start codes decoders want (PROTOCOL.md §5.2).
//!
//! Owns: the in-place AVCC → Annex-B rewrite with its sanity checks, the reverse split for the
//! sender, and NAL-type classification (IDR / IRAP). Must not touch: decryption or stream state.

use super::{MirrorError, START_CODE, VideoCodec};

const LENGTH_PREFIX: usize = 4;
const H264_NAL_IDR: u8 = 5;
/// H.265 IRAP range: BLA_W_LP (16) … CRA_NUT (21).
const H265_IRAP_FIRST: u8 = 16;
const H265_IRAP_LAST: u8 = 21;

/// What the reframing walk learned about one access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessUnitInfo {
    pub nal_count: usize,
    /// Holds an IDR slice (H.264 type 5) or an IRAP picture (H.265 types 16..=21).
    pub keyframe: bool,
}

/// The NAL unit type from the first header byte.
pub fn nal_type(codec: VideoCodec, header: u8) -> u8 {
    match codec {
        VideoCodec::H264 => header & 0x1f,
        VideoCodec::H265 => (header >> 1) & 0x3f,
    }
}

/// Whether a NAL of this first header byte starts a decodable picture on its own.
pub fn is_keyframe_nal(codec: VideoCodec, header: u8) -> bool {
    let kind = nal_type(codec, header);
    match codec {
        VideoCodec::H264 => kind == H264_NAL_IDR,
        VideoCodec::H265 => (H265_IRAP_FIRST..=H265_IRAP_LAST).contains(&kind),
    }
}

/// Checks the length-prefixed NAL chain without changing it.
fn walk_avcc(buf: &[u8], codec: VideoCodec) -> Result<AccessUnitInfo, MirrorError> {
    let mut info = AccessUnitInfo::default();
    let mut pos = 0usize;
    while pos < buf.len() {
        let remaining = buf.len() - pos;
        let prefix =
            buf.get(pos..pos + LENGTH_PREFIX)
                .ok_or(MirrorError::TruncatedLengthPrefix {
                    offset: pos,
                    remaining,
                })?;
        let mut word = [0u8; LENGTH_PREFIX];
        word.copy_from_slice(prefix);
        let len = u32::from_be_bytes(word);
        let body = pos + LENGTH_PREFIX;
        let body_remaining = buf.len() - body;
        let overrun = MirrorError::NalOverrun {
            offset: pos,
            len,
            remaining: body_remaining,
        };
        let len_usize = usize::try_from(len).map_err(|_| overrun.clone())?;
        if len_usize > body_remaining {
            return Err(overrun);
        }
        let header = match buf.get(body) {
            Some(&header) if len_usize > 0 => header,
            _ => return Err(MirrorError::EmptyNal { offset: pos }),
        };
        if header & 0x80 != 0 {
            return Err(MirrorError::ForbiddenZeroBit { offset: body });
        }
        info.keyframe |= is_keyframe_nal(codec, header);
        info.nal_count += 1;
        pos = body + len_usize;
    }
    Ok(info)
}

/// Rewrites a decrypted access unit from 4-byte big-endian NAL lengths to Annex-B start codes
/// in place (same size). Errors when a length runs past the end, fewer than 4 bytes are left for
/// a length, a NAL is empty, or a NAL header has the forbidden_zero_bit set — each the mark of
/// a wrong key or a broken stream. On error `buf` is left unchanged. An empty `buf` is a valid
/// access unit with no NALs.
pub fn avcc_to_annexb_in_place(
    buf: &mut [u8],
    codec: VideoCodec,
) -> Result<AccessUnitInfo, MirrorError> {
    // Validate first (reads only), then rewrite: a few bytes touched per NAL, so two walks cost
    // nothing next to decryption, and a bad buffer is never half converted.
    let info = walk_avcc(buf, codec)?;
    let mut pos = 0usize;
    while let Some(prefix) = buf.get_mut(pos..pos + LENGTH_PREFIX) {
        let mut word = [0u8; LENGTH_PREFIX];
        word.copy_from_slice(prefix);
        prefix.copy_from_slice(&START_CODE);
        let len = usize::try_from(u32::from_be_bytes(word)).unwrap_or(usize::MAX);
        pos = pos.saturating_add(LENGTH_PREFIX).saturating_add(len);
    }
    Ok(info)
}

/// Scans an AVCC access unit for a keyframe NAL, tolerating malformed input (stops at the
/// first inconsistency). The sender uses it to set the keyframe hint flag.
pub fn avcc_contains_keyframe(buf: &[u8], codec: VideoCodec) -> bool {
    let mut pos = 0usize;
    while let Some(prefix) = buf.get(pos..pos + LENGTH_PREFIX) {
        let mut word = [0u8; LENGTH_PREFIX];
        word.copy_from_slice(prefix);
        let Ok(len) = usize::try_from(u32::from_be_bytes(word)) else {
            return false;
        };
        let body = pos + LENGTH_PREFIX;
        if len > 0
            && let Some(&header) = buf.get(body)
            && is_keyframe_nal(codec, header)
        {
            return true;
        }
        pos = body.saturating_add(len);
    }
    false
}

/// Finds the next `00 00 01` at or after `from`; returns its offset.
fn find_start_code(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(3)
        .position(|w| w == [0x00, 0x00, 0x01])
        .map(|p| from + p)
}

/// Splits an Annex-B byte stream on 3- and 4-byte start codes and writes each NAL with a
/// 4-byte big-endian length (the mirror stream's framing). Bytes before the first start code
/// and zero bytes trailing a NAL (the leading zero of a 4-byte start code, trailing_zero_8bits)
/// are dropped, as are empty NALs.
pub fn annexb_to_avcc(annexb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(annexb.len() + 16);
    let Some(first) = find_start_code(annexb, 0) else {
        return out;
    };
    let mut start = first + 3;
    loop {
        let next = find_start_code(annexb, start);
        let end = next.unwrap_or(annexb.len());
        let mut nal = annexb.get(start..end).unwrap_or_default();
        while let Some((&0x00, rest)) = nal.split_last() {
            nal = rest;
        }
        if let Ok(len) = u32::try_from(nal.len())
            && len > 0
        {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(nal);
        }
        match next {
            Some(n) => start = n + 3,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h265_nal_type_uses_bits_one_to_six() {
        // 0x26 0x01 is an IDR_W_RADL (19) header; 0x02 0x01 is TRAIL_R (1).
        assert!(is_keyframe_nal(VideoCodec::H265, 0x26));
        assert!(!is_keyframe_nal(VideoCodec::H265, 0x02));
        assert_eq!(nal_type(VideoCodec::H265, 0x40), 32);
    }

    #[test]
    fn many_nals_are_all_rewritten() {
        let mut buf = Vec::new();
        for i in 0..20u8 {
            buf.extend_from_slice(&[0, 0, 0, 2, 0x41, i]);
        }
        let info = avcc_to_annexb_in_place(&mut buf, VideoCodec::H264).unwrap();
        assert_eq!(info.nal_count, 20);
        for (i, chunk) in buf.chunks(6).enumerate() {
            assert_eq!(chunk, [0, 0, 0, 1, 0x41, i as u8]);
        }
    }
}

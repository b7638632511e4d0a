//! Type-1 codec records (PROTOCOL.md §5.3): the H.264 `avcC` record and the H.265 `hvc1`
//! sample entry with its `hvcC` box, parsed by structure into parameter-set NAL units.
//!
//! Owns: record parsing, [`VideoCodec`], [`CodecConfig`] (parameter sets + picture size + pause
//! flag). Must not touch: stream state (whether a config is pending is `stream`'s business) or
//! building records (the sender side lives in `writer`).

use super::START_CODE;
use super::header::MirrorHeader;

/// `hvc1` at payload bytes 4..8 marks an H.265 record.
const FOURCC_HVC1: [u8; 4] = *b"hvc1";
const FOURCC_HEV1: [u8; 4] = *b"hev1";
const FOURCC_HVCC: [u8; 4] = *b"hvcC";
/// Box header (8) + SampleEntry (8) + VisualSampleEntry fields (70): where child boxes start.
pub(crate) const VISUAL_SAMPLE_ENTRY_LEN: usize = 86;
/// hvcC bytes before `numOfArrays`.
const HVCC_FIXED_LEN: usize = 22;
/// avcC bytes before the first SPS length.
const AVCC_FIXED_LEN: usize = 6;

const H265_NAL_VPS: u8 = 32;
const H265_NAL_SPS: u8 = 33;
const H265_NAL_PPS: u8 = 34;

/// The two codecs a mirroring client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

/// Why a codec record could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecRecordError {
    #[error("record cut short reading {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("unsupported configurationVersion {0:#04x}")]
    UnsupportedVersion(u8),
    #[error("NAL length fields of {0} bytes; mirroring uses 4")]
    UnsupportedLengthSize(u8),
    #[error("empty {what} NAL unit in the record")]
    EmptyNal { what: &'static str },
    #[error("forbidden_zero_bit set in a {what} NAL unit of the record")]
    ForbiddenZeroBit { what: &'static str },
    #[error("record holds no {0}")]
    MissingParameterSet(&'static str),
    #[error("hvc1 sample entry holds no parsable hvcC box")]
    NoHvccBox,
    #[error("{what} does not fit the record format ({len} bytes / entries)")]
    TooLarge { what: &'static str, len: usize },
}

/// A parsed type-1 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecConfig {
    pub codec: VideoCodec,
    /// Parameter sets in record order (H.264: SPS…, PPS…; H.265: as the hvcC arrays list them).
    pub nal_units: Vec<Vec<u8>>,
    /// `00 00 00 01` before each of `nal_units`, ready to prepend to an IDR access unit.
    pub annexb: Vec<u8>,
    /// Output picture size from the header (source size when the output fields are zero).
    pub width: u32,
    pub height: u32,
    /// Source picture size from the header.
    pub source_width: u32,
    pub source_height: u32,
    /// The option code announced that the stream is pausing.
    pub paused: bool,
}

/// Converts a header float to whole pixels (`as` saturates; NaN and negatives become 0).
fn pixels(value: f32) -> u32 {
    value.round() as u32
}

impl CodecConfig {
    /// Parses a non-empty type-1 payload; the header supplies sizes and the pause flag.
    pub fn from_packet(header: &MirrorHeader, payload: &[u8]) -> Result<Self, CodecRecordError> {
        let (codec, nal_units) = parse_codec_record(payload)?;
        let sizes = header.sizes.unwrap_or_default();
        let (source_width, source_height) =
            (pixels(sizes.source_width), pixels(sizes.source_height));
        let (mut width, mut height) = (pixels(sizes.output_width), pixels(sizes.output_height));
        if width == 0 || height == 0 {
            (width, height) = (source_width, source_height);
        }
        let annexb = annexb_from_nal_units(&nal_units);
        Ok(Self {
            codec,
            nal_units,
            annexb,
            width,
            height,
            source_width,
            source_height,
            paused: header.is_pausing(),
        })
    }
}

/// Joins NAL units into one Annex-B byte string with 4-byte start codes.
pub fn annexb_from_nal_units(nal_units: &[Vec<u8>]) -> Vec<u8> {
    let total = nal_units.iter().map(|n| n.len() + START_CODE.len()).sum();
    let mut out = Vec::with_capacity(total);
    for nal in nal_units {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    out
}

/// Tells the codec by structure (`hvc1`/`hev1` at bytes 4..8 means H.265) and parses the record.
pub fn parse_codec_record(payload: &[u8]) -> Result<(VideoCodec, Vec<Vec<u8>>), CodecRecordError> {
    match payload.get(4..8) {
        Some(fourcc) if fourcc == FOURCC_HVC1 || fourcc == FOURCC_HEV1 => {
            Ok((VideoCodec::H265, parse_hvc1_sample_entry(payload)?))
        }
        _ => Ok((VideoCodec::H264, parse_avcc(payload)?)),
    }
}

/// A bounds-checked big-endian cursor; every read names what it was reading for the error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], CodecRecordError> {
        let truncated = CodecRecordError::Truncated {
            what,
            offset: self.pos,
        };
        let end = self.pos.checked_add(len).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CodecRecordError> {
        let bytes = self.take(1, what)?;
        Ok(bytes.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, CodecRecordError> {
        let bytes = self.take(2, what)?;
        let mut word = [0u8; 2];
        word.copy_from_slice(bytes);
        Ok(u16::from_be_bytes(word))
    }

    /// One `u16 length + bytes` NAL unit, non-empty and with a clear forbidden_zero_bit.
    fn nal(&mut self, what: &'static str) -> Result<Vec<u8>, CodecRecordError> {
        let len = usize::from(self.u16(what)?);
        let nal = self.take(len, what)?;
        match nal.first() {
            None => Err(CodecRecordError::EmptyNal { what }),
            Some(header) if header & 0x80 != 0 => Err(CodecRecordError::ForbiddenZeroBit { what }),
            Some(_) => Ok(nal.to_vec()),
        }
    }
}

/// Parses an H.264 AVCDecoderConfigurationRecord: version 1, 4-byte NAL lengths, any number of
/// SPS and PPS (at least one of each). Bytes after the last PPS (High-profile extensions) are
/// allowed and ignored.
pub fn parse_avcc(record: &[u8]) -> Result<Vec<Vec<u8>>, CodecRecordError> {
    let mut r = Reader::new(record);
    let fixed = r.take(AVCC_FIXED_LEN, "avcC fixed fields")?;
    let (version, length_size_byte, sps_count_byte) = match fixed {
        [version, _profile, _compat, _level, length_size, sps_count] => {
            (*version, *length_size, *sps_count)
        }
        _ => {
            return Err(CodecRecordError::Truncated {
                what: "avcC fixed fields",
                offset: 0,
            });
        }
    };
    if version != 0x01 {
        return Err(CodecRecordError::UnsupportedVersion(version));
    }
    let length_size = (length_size_byte & 0x03) + 1;
    if length_size != 4 {
        return Err(CodecRecordError::UnsupportedLengthSize(length_size));
    }
    let sps_count = sps_count_byte & 0x1f;
    if sps_count == 0 {
        return Err(CodecRecordError::MissingParameterSet("SPS"));
    }
    let mut nal_units = Vec::new();
    for _ in 0..sps_count {
        nal_units.push(r.nal("SPS")?);
    }
    let pps_count = r.u8("PPS count")?;
    if pps_count == 0 {
        return Err(CodecRecordError::MissingParameterSet("PPS"));
    }
    for _ in 0..pps_count {
        nal_units.push(r.nal("PPS")?);
    }
    Ok(nal_units)
}

/// Parses the H.265 payload: an ISO-BMFF `hvc1` sample entry (u32 BE size, `hvc1`, the 78
/// bytes of SampleEntry/VisualSampleEntry fields, then child boxes) whose `hvcC` box holds the
/// parameter sets. The child boxes are walked; if that finds no usable `hvcC`, the payload is
/// searched for the `hvcC` four-character code as a fallback.
pub fn parse_hvc1_sample_entry(payload: &[u8]) -> Result<Vec<Vec<u8>>, CodecRecordError> {
    let mut r = Reader::new(payload);
    let declared = r.u32_be("sample entry size")?;
    let entry_end = usize::try_from(declared)
        .ok()
        .filter(|&size| (VISUAL_SAMPLE_ENTRY_LEN..=payload.len()).contains(&size))
        .unwrap_or(payload.len());
    let entry = payload.get(..entry_end).unwrap_or(payload);

    let mut first_error = None;
    if let Some(hvcc) = find_child_box(entry, VISUAL_SAMPLE_ENTRY_LEN, FOURCC_HVCC) {
        match parse_hvcc(hvcc) {
            Ok(nal_units) => return Ok(nal_units),
            Err(e) => first_error = Some(e),
        }
    }
    // Fallback: any `hvcC` four-character code, its content running to the end of the entry.
    let mut search_from = 8;
    while let Some(found) = entry
        .get(search_from..)
        .and_then(|rest| rest.windows(4).position(|w| w == FOURCC_HVCC))
    {
        let content_start = search_from + found + 4;
        if let Some(content) = entry.get(content_start..) {
            match parse_hvcc(content) {
                Ok(nal_units) => return Ok(nal_units),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        search_from = content_start;
    }
    Err(first_error.unwrap_or(CodecRecordError::NoHvccBox))
}

impl Reader<'_> {
    fn u32_be(&mut self, what: &'static str) -> Result<u32, CodecRecordError> {
        let bytes = self.take(4, what)?;
        let mut word = [0u8; 4];
        word.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(word))
    }
}

/// Walks ISO-BMFF boxes in `buf` from `start` and returns the content of the first box of
/// type `fourcc`. Stops quietly at the first malformed box header.
fn find_child_box(buf: &[u8], start: usize, fourcc: [u8; 4]) -> Option<&[u8]> {
    let mut pos = start;
    while pos < buf.len() {
        let mut r = Reader::new(buf.get(pos..)?);
        let size32 = r.u32_be("box size").ok()?;
        let kind = r.take(4, "box type").ok()?;
        let (header_len, size) = match size32 {
            0 => (8, buf.len() - pos),
            1 => {
                let hi = u64::from(r.u32_be("box largesize").ok()?);
                let lo = u64::from(r.u32_be("box largesize").ok()?);
                (16, usize::try_from((hi << 32) | lo).ok()?)
            }
            n => (8, usize::try_from(n).ok()?),
        };
        if size < header_len {
            return None;
        }
        let end = pos.checked_add(size)?;
        let content = buf.get(pos + header_len..end)?;
        if kind == fourcc {
            return Some(content);
        }
        pos = end;
    }
    None
}

/// Parses an HEVCDecoderConfigurationRecord (the content of an `hvcC` box): 22 fixed bytes,
/// `numOfArrays`, then per array a type byte, `numNalus` u16 BE and per NAL a u16 BE length
/// and the bytes. Needs 4-byte NAL lengths and at least one VPS, SPS and PPS. NALs come out in
/// array order.
pub fn parse_hvcc(record: &[u8]) -> Result<Vec<Vec<u8>>, CodecRecordError> {
    let mut r = Reader::new(record);
    let fixed = r.take(HVCC_FIXED_LEN, "hvcC fixed fields")?;
    let version = fixed.first().copied().unwrap_or_default();
    if version != 0x01 {
        return Err(CodecRecordError::UnsupportedVersion(version));
    }
    let length_size = (fixed.last().copied().unwrap_or_default() & 0x03) + 1;
    if length_size != 4 {
        return Err(CodecRecordError::UnsupportedLengthSize(length_size));
    }
    let array_count = r.u8("hvcC numOfArrays")?;
    let mut nal_units = Vec::new();
    let (mut vps, mut sps, mut pps) = (false, false, false);
    for _ in 0..array_count {
        let nal_type = r.u8("hvcC array type")? & 0x3f;
        let what = match nal_type {
            H265_NAL_VPS => "VPS",
            H265_NAL_SPS => "SPS",
            H265_NAL_PPS => "PPS",
            _ => "hvcC array NAL",
        };
        let count = r.u16("hvcC numNalus")?;
        for _ in 0..count {
            nal_units.push(r.nal(what)?);
        }
        if count > 0 {
            vps |= nal_type == H265_NAL_VPS;
            sps |= nal_type == H265_NAL_SPS;
            pps |= nal_type == H265_NAL_PPS;
        }
    }
    for (present, name) in [(vps, "VPS"), (sps, "SPS"), (pps, "PPS")] {
        if !present {
            return Err(CodecRecordError::MissingParameterSet(name));
        }
    }
    Ok(nal_units)
}

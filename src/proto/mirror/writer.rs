//! The sender's side of the mirror stream, for the built-in sender and the tests: codec records
//! shaped the way iOS sends them, and records (header + payload) with the video payload
//! encrypted on one continuous AES-CTR keystream.
//!
//! Owns: `avcC` / `hvc1`+`hvcC` record building and record framing. Must not touch: sockets,
//! pacing or encoding pictures (the sender module does that).

use super::annexb::{annexb_to_avcc, avcc_contains_keyframe};
use super::codec_config::{CodecRecordError, VISUAL_SAMPLE_ENTRY_LEN, VideoCodec};
use super::header::{FLAG_KEYFRAME_HINT, MirrorHeader, PictureSizes};
use super::{HEADER_LEN, MAX_PAYLOAD, MirrorError};
use crate::proto::cipher::VideoCipher;

/// `0xFF`: 6 reserved bits + lengthSizeMinusOne = 3.
const AVCC_LENGTH_SIZE_BYTE: u8 = 0xff;
/// `0xE0`: 3 reserved bits, OR-ed with the SPS count.
const AVCC_SPS_COUNT_RESERVED: u8 = 0xe0;
const AVCC_MAX_SPS: usize = 0x1f;
/// hvcC array type bytes as iOS sends them: array_completeness (0x80) | NAL type, so
/// `A0` VPS, `A1` SPS, `A2` PPS.
const HVCC_ARRAY_VPS: u8 = 0x80 | 32;
const HVCC_ARRAY_SPS: u8 = 0x80 | 33;
const HVCC_ARRAY_PPS: u8 = 0x80 | 34;
/// Offset of profile_tier_level inside an H.265 SPS NAL (2-byte NAL header + 1 byte of ids).
const SPS_PROFILE_OFFSET: usize = 3;
/// general_profile_space … general_level_idc: 12 bytes, copied into the hvcC fixed part.
const PROFILE_TIER_LEVEL_LEN: usize = 12;

fn nal_len(nal: &[u8], what: &'static str) -> Result<u16, CodecRecordError> {
    if nal.is_empty() {
        return Err(CodecRecordError::EmptyNal { what });
    }
    u16::try_from(nal.len()).map_err(|_| CodecRecordError::TooLarge {
        what,
        len: nal.len(),
    })
}

/// Builds an H.264 avcC record (version 1, 4-byte NAL lengths) from one or more SPS and PPS.
/// Profile, compatibility and level are copied from the first SPS.
pub fn build_avcc_record(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Vec<u8>, CodecRecordError> {
    let first = sps
        .first()
        .ok_or(CodecRecordError::MissingParameterSet("SPS"))?;
    if pps.is_empty() {
        return Err(CodecRecordError::MissingParameterSet("PPS"));
    }
    let sps_count = u8::try_from(sps.len())
        .ok()
        .filter(|&n| usize::from(n) <= AVCC_MAX_SPS)
        .ok_or(CodecRecordError::TooLarge {
            what: "SPS list",
            len: sps.len(),
        })?;
    let pps_count = u8::try_from(pps.len()).map_err(|_| CodecRecordError::TooLarge {
        what: "PPS list",
        len: pps.len(),
    })?;
    let profile = |i: usize| first.get(i).copied().unwrap_or_default();
    let mut out = vec![
        0x01,
        profile(1),
        profile(2),
        profile(3),
        AVCC_LENGTH_SIZE_BYTE,
        AVCC_SPS_COUNT_RESERVED | sps_count,
    ];
    for nal in sps {
        out.extend_from_slice(&nal_len(nal, "SPS")?.to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.push(pps_count);
    for nal in pps {
        out.extend_from_slice(&nal_len(nal, "PPS")?.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(out)
}

/// Builds the H.265 payload iOS sends: an `hvc1` VisualSampleEntry box (u32 BE size, `hvc1`,
/// the 78 bytes of sample-entry fields) holding an `hvcC` box with one VPS, SPS and PPS array.
/// With short parameter sets the arrays start at payload offset 0x75, as on the wire.
pub fn build_hvcc_record(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, CodecRecordError> {
    let mut hvcc = Vec::with_capacity(23 + 15 + vps.len() + sps.len() + pps.len());
    hvcc.push(0x01); // configurationVersion
    let mut profile = [0u8; PROFILE_TIER_LEVEL_LEN];
    if let Some(ptl) = sps.get(SPS_PROFILE_OFFSET..SPS_PROFILE_OFFSET + PROFILE_TIER_LEVEL_LEN) {
        profile.copy_from_slice(ptl);
    }
    hvcc.extend_from_slice(&profile);
    hvcc.extend_from_slice(&[0xf0, 0x00]); // reserved + min_spatial_segmentation_idc 0
    hvcc.push(0xfc); // reserved + parallelismType 0
    hvcc.push(0xfd); // reserved + chroma_format_idc 1 (4:2:0)
    hvcc.push(0xf8); // reserved + bit_depth_luma_minus8 0
    hvcc.push(0xf8); // reserved + bit_depth_chroma_minus8 0
    hvcc.extend_from_slice(&[0x00, 0x00]); // avgFrameRate unknown
    hvcc.push(0x0f); // constantFrameRate 0, numTemporalLayers 1, nested 1, lengthSizeMinusOne 3
    hvcc.push(3); // numOfArrays
    for (array_type, nal, what) in [
        (HVCC_ARRAY_VPS, vps, "VPS"),
        (HVCC_ARRAY_SPS, sps, "SPS"),
        (HVCC_ARRAY_PPS, pps, "PPS"),
    ] {
        hvcc.push(array_type);
        hvcc.extend_from_slice(&1u16.to_be_bytes());
        hvcc.extend_from_slice(&nal_len(nal, what)?.to_be_bytes());
        hvcc.extend_from_slice(nal);
    }

    let hvcc_box_len = 8 + hvcc.len();
    let entry_len = VISUAL_SAMPLE_ENTRY_LEN + hvcc_box_len;
    let box_size =
        |len: usize, what| u32::try_from(len).map_err(|_| CodecRecordError::TooLarge { what, len });
    let mut out = Vec::with_capacity(entry_len);
    out.extend_from_slice(&box_size(entry_len, "hvc1 entry")?.to_be_bytes());
    out.extend_from_slice(b"hvc1");
    out.extend_from_slice(&[0u8; 6]); // SampleEntry reserved
    out.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    out.extend_from_slice(&[0u8; 16]); // pre_defined, reserved, pre_defined[3]
    out.extend_from_slice(&[0u8; 4]); // width, height (the header carries the real sizes)
    out.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution 72 dpi
    out.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution 72 dpi
    out.extend_from_slice(&[0u8; 4]); // reserved
    out.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    out.extend_from_slice(&[0u8; 32]); // compressorname
    out.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    out.extend_from_slice(&0xffffu16.to_be_bytes()); // pre_defined = -1
    out.extend_from_slice(&box_size(hvcc_box_len, "hvcC box")?.to_be_bytes());
    out.extend_from_slice(b"hvcC");
    out.extend_from_slice(&hvcc);
    Ok(out)
}

/// Frames records for one mirror data connection, encrypting video payloads on one
/// continuous keystream (the receiver's [`super::MirrorStream`] mirrors it).
#[derive(Debug)]
pub struct MirrorWriter {
    pub cipher: VideoCipher,
    pub codec: VideoCodec,
}

fn payload_len(len: usize) -> Result<u32, MirrorError> {
    u32::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_PAYLOAD)
        .ok_or(MirrorError::PayloadTooLarge {
            size: len as u64,
            max: MAX_PAYLOAD,
        })
}

impl MirrorWriter {
    pub fn new(key: &[u8; 16], iv: &[u8; 16], codec: VideoCodec) -> Self {
        Self {
            cipher: VideoCipher::new(key, iv),
            codec,
        }
    }

    /// Encrypts an AVCC access unit (4-byte big-endian NAL lengths) in place and returns the
    /// type-0 record. The keyframe hint flag is set when the unit holds an IDR/IRAP NAL.
    pub fn video_record(
        &mut self,
        mut avcc: Vec<u8>,
        timestamp: u64,
    ) -> Result<([u8; HEADER_LEN], Vec<u8>), MirrorError> {
        let mut header = MirrorHeader::video(payload_len(avcc.len())?, timestamp);
        if avcc_contains_keyframe(&avcc, self.codec) {
            header.flags = FLAG_KEYFRAME_HINT;
        }
        self.cipher.apply(&mut avcc);
        Ok((header.encode(), avcc))
    }

    /// Like [`MirrorWriter::video_record`] for an Annex-B access unit (an encoder's output).
    pub fn video_record_from_annexb(
        &mut self,
        annexb: &[u8],
        timestamp: u64,
    ) -> Result<([u8; HEADER_LEN], Vec<u8>), MirrorError> {
        self.video_record(annexb_to_avcc(annexb), timestamp)
    }

    /// A clear type-1 record for a codec record built by [`build_avcc_record`] or
    /// [`build_hvcc_record`]. Does not touch the keystream.
    pub fn codec_record(
        &self,
        record: Vec<u8>,
        timestamp: u64,
        pausing: bool,
        sizes: PictureSizes,
    ) -> Result<([u8; HEADER_LEN], Vec<u8>), MirrorError> {
        let header = MirrorHeader::codec(
            payload_len(record.len())?,
            timestamp,
            self.codec,
            pausing,
            sizes,
        );
        Ok((header.encode(), record))
    }

    /// The type-2 keepalive record (header only).
    pub fn heartbeat_record(&self) -> [u8; HEADER_LEN] {
        MirrorHeader::heartbeat().encode()
    }

    /// A clear type-5 record around a (binary plist) report.
    pub fn report_record(
        &self,
        report: Vec<u8>,
    ) -> Result<([u8; HEADER_LEN], Vec<u8>), MirrorError> {
        Ok((
            MirrorHeader::report(payload_len(report.len())?).encode(),
            report,
        ))
    }
}

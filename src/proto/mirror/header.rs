//! The 128-byte header in front of every mirror record (PROTOCOL.md §5.1, §5.3).
//!
//! Owns: decoding and encoding the header fields, the packet-type and option-code constants,
//! and the picture-size floats of codec packets. Must not touch: payloads (see the sibling
//! modules) or any stream state.

use super::{HEADER_LEN, MAX_PAYLOAD, MirrorError, VideoCodec};

/// Byte 4 values.
pub const TYPE_VIDEO: u8 = 0x00;
pub const TYPE_CODEC_CONFIG: u8 = 0x01;
pub const TYPE_HEARTBEAT: u8 = 0x02;
pub const TYPE_REPORT: u8 = 0x05;

/// Option codes (bytes 6..8 read as u16 LE, so the wire bytes are `16 01` for 0x0116).
pub const OPTION_H264: u16 = 0x0116;
pub const OPTION_H264_PAUSING: u16 = 0x0156;
pub const OPTION_H265: u16 = 0x011e;
pub const OPTION_H265_PAUSING: u16 = 0x015e;
pub const OPTION_HEARTBEAT: u16 = 0x001e;

/// Byte 5 value iOS puts on (most) IDR video packets. Only a hint: the NAL types decide.
pub const FLAG_KEYFRAME_HINT: u8 = 0x10;

const OFFSET_SOURCE_W: usize = 16;
const OFFSET_SOURCE_H: usize = 20;
const OFFSET_SOURCE_W_DUP: usize = 40;
const OFFSET_SOURCE_H_DUP: usize = 44;
const OFFSET_OUTPUT_W: usize = 56;
const OFFSET_OUTPUT_H: usize = 60;

/// What byte 4 says the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// AES-CTR encrypted access unit, NALs with 4-byte big-endian lengths.
    Video,
    /// Clear avcC / hvc1 record plus picture sizes in the header.
    CodecConfig,
    /// Old-protocol once-a-second keepalive without payload.
    Heartbeat,
    /// Clear binary plist with client statistics, maybe followed by a trailer.
    Report,
    /// Anything else; the stream skips it.
    Other(u8),
}

impl PacketType {
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            TYPE_VIDEO => Self::Video,
            TYPE_CODEC_CONFIG => Self::CodecConfig,
            TYPE_HEARTBEAT => Self::Heartbeat,
            TYPE_REPORT => Self::Report,
            other => Self::Other(other),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            Self::Video => TYPE_VIDEO,
            Self::CodecConfig => TYPE_CODEC_CONFIG,
            Self::Heartbeat => TYPE_HEARTBEAT,
            Self::Report => TYPE_REPORT,
            Self::Other(byte) => byte,
        }
    }
}

/// The picture sizes a codec packet carries as little-endian f32 (integral values in practice).
/// The source size is written twice on the wire (16/20 and 40/44); we read the first copy and
/// fall back to the second when the first is zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PictureSizes {
    pub source_width: f32,
    pub source_height: f32,
    pub output_width: f32,
    pub output_height: f32,
}

impl PictureSizes {
    /// Same size for source and output, as a sender that does not scale writes it.
    pub fn square(width: u32, height: u32) -> Self {
        // Picture sizes are far below 2^24, so the conversion is exact.
        let (w, h) = (width as f32, height as f32);
        Self {
            source_width: w,
            source_height: h,
            output_width: w,
            output_height: h,
        }
    }
}

/// One decoded 128-byte header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MirrorHeader {
    /// Bytes that follow the header; never above [`MAX_PAYLOAD`] once decoded.
    pub payload_size: u32,
    pub packet_type: PacketType,
    /// Byte 5: 0x00 or 0x10 ([`FLAG_KEYFRAME_HINT`]).
    pub flags: u8,
    /// Bytes 6..8 as u16 LE (see the `OPTION_*` constants).
    pub option: u16,
    /// Client uptime as 32.32 fixed point (seconds in the high half), no 1900 offset.
    pub timestamp: u64,
    /// Only for [`PacketType::CodecConfig`].
    pub sizes: Option<PictureSizes>,
}

fn u32_at(bytes: &[u8; HEADER_LEN], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(offset..offset + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn f32_at(bytes: &[u8; HEADER_LEN], offset: usize) -> f32 {
    f32::from_bits(u32_at(bytes, offset))
}

fn put(bytes: &mut [u8; HEADER_LEN], offset: usize, value: &[u8]) {
    if let Some(dst) = bytes.get_mut(offset..offset + value.len()) {
        dst.copy_from_slice(value);
    }
}

impl MirrorHeader {
    /// Decodes a header; rejects a payload size above [`MAX_PAYLOAD`] so the shell never
    /// allocates what a broken stream announces.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, MirrorError> {
        let payload_size = u32_at(bytes, 0);
        if payload_size > MAX_PAYLOAD {
            return Err(MirrorError::PayloadTooLarge {
                size: u64::from(payload_size),
                max: MAX_PAYLOAD,
            });
        }
        let packet_type = PacketType::from_byte(bytes[4]);
        let option = u16::from_le_bytes([bytes[6], bytes[7]]);
        let timestamp = u64::from(u32_at(bytes, 8)) | (u64::from(u32_at(bytes, 12)) << 32);
        let sizes = (packet_type == PacketType::CodecConfig).then(|| {
            let mut source_width = f32_at(bytes, OFFSET_SOURCE_W);
            let mut source_height = f32_at(bytes, OFFSET_SOURCE_H);
            if source_width == 0.0 && source_height == 0.0 {
                source_width = f32_at(bytes, OFFSET_SOURCE_W_DUP);
                source_height = f32_at(bytes, OFFSET_SOURCE_H_DUP);
            }
            PictureSizes {
                source_width,
                source_height,
                output_width: f32_at(bytes, OFFSET_OUTPUT_W),
                output_height: f32_at(bytes, OFFSET_OUTPUT_H),
            }
        });
        Ok(Self {
            payload_size,
            packet_type,
            flags: bytes[5],
            option,
            timestamp,
            sizes,
        })
    }

    /// Encodes the header; sizes are written only for codec packets (source size twice).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        put(&mut bytes, 0, &self.payload_size.to_le_bytes());
        bytes[4] = self.packet_type.to_byte();
        bytes[5] = self.flags;
        put(&mut bytes, 6, &self.option.to_le_bytes());
        put(&mut bytes, 8, &self.timestamp.to_le_bytes());
        if let (PacketType::CodecConfig, Some(sizes)) = (self.packet_type, self.sizes) {
            for (offset, value) in [
                (OFFSET_SOURCE_W, sizes.source_width),
                (OFFSET_SOURCE_H, sizes.source_height),
                (OFFSET_SOURCE_W_DUP, sizes.source_width),
                (OFFSET_SOURCE_H_DUP, sizes.source_height),
                (OFFSET_OUTPUT_W, sizes.output_width),
                (OFFSET_OUTPUT_H, sizes.output_height),
            ] {
                put(&mut bytes, offset, &value.to_le_bytes());
            }
        }
        bytes
    }

    /// A type-0 header for an encrypted access unit of `payload_len` bytes.
    pub fn video(payload_len: u32, timestamp: u64) -> Self {
        Self {
            payload_size: payload_len,
            packet_type: PacketType::Video,
            flags: 0,
            option: 0,
            timestamp,
            sizes: None,
        }
    }

    /// A type-1 header for a codec record of `payload_len` bytes.
    pub fn codec(
        payload_len: u32,
        timestamp: u64,
        codec: VideoCodec,
        pausing: bool,
        sizes: PictureSizes,
    ) -> Self {
        let option = match (codec, pausing) {
            (VideoCodec::H264, false) => OPTION_H264,
            (VideoCodec::H264, true) => OPTION_H264_PAUSING,
            (VideoCodec::H265, false) => OPTION_H265,
            (VideoCodec::H265, true) => OPTION_H265_PAUSING,
        };
        Self {
            payload_size: payload_len,
            packet_type: PacketType::CodecConfig,
            flags: 0,
            option,
            timestamp,
            sizes: Some(sizes),
        }
    }

    /// The old-protocol heartbeat (type 2, option `1e 00`, no payload).
    pub fn heartbeat() -> Self {
        Self {
            payload_size: 0,
            packet_type: PacketType::Heartbeat,
            flags: 0,
            option: OPTION_HEARTBEAT,
            timestamp: 0,
            sizes: None,
        }
    }

    /// A type-5 streaming-report header (no timestamp, as iOS sends it).
    pub fn report(payload_len: u32) -> Self {
        Self {
            payload_size: payload_len,
            packet_type: PacketType::Report,
            flags: 0,
            option: 0,
            timestamp: 0,
            sizes: None,
        }
    }

    /// True for the option codes that announce the stream is pausing (screen locked).
    pub fn is_pausing(&self) -> bool {
        matches!(self.option, OPTION_H264_PAUSING | OPTION_H265_PAUSING)
    }

    /// The codec the option code names, if it is one of the four known codec codes.
    pub fn option_codec(&self) -> Option<VideoCodec> {
        match self.option {
            OPTION_H264 | OPTION_H264_PAUSING => Some(VideoCodec::H264),
            OPTION_H265 | OPTION_H265_PAUSING => Some(VideoCodec::H265),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_bytes_are_little_endian_on_the_wire() {
        let h = MirrorHeader::codec(10, 5, VideoCodec::H264, true, PictureSizes::default());
        let bytes = h.encode();
        assert_eq!(&bytes[4..8], &[0x01, 0x00, 0x56, 0x01]);
        let h = MirrorHeader::heartbeat().encode();
        assert_eq!(&h[4..8], &[0x02, 0x00, 0x1e, 0x00]);
    }

    #[test]
    fn duplicate_source_size_is_used_when_the_first_copy_is_zero() {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[4] = TYPE_CODEC_CONFIG;
        bytes[40..44].copy_from_slice(&1440.0f32.to_le_bytes());
        bytes[44..48].copy_from_slice(&1080.0f32.to_le_bytes());
        let sizes = MirrorHeader::decode(&bytes).unwrap().sizes.unwrap();
        assert_eq!((sizes.source_width, sizes.source_height), (1440.0, 1080.0));
    }
}

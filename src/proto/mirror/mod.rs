//! The screen-mirroring data stream (PROTOCOL.md §5, §4.3): everything between "the net shell
//! read 128 header bytes and `payload_size` payload bytes" and "here is an Annex-B access unit
//! for the decoder".
//!
//! Owns: the 128-byte header codec ([`header`]), the avcC / hvcC codec records
//! ([`codec_config`]), AVCC ⇄ Annex-B reframing ([`annexb`]), the per-connection receiver state
//! machine with its one continuous AES-CTR keystream ([`stream`]), the type-5 streaming report
//! ([`report`]) and the sender's side of all of it ([`writer`]).
//!
//! Must not touch: sockets, clocks, tokio or GStreamer (this is sans-IO code under `proto`), nor
//! key derivation (`proto::keys` hands us the video key and IV) nor the cipher itself
//! (`proto::cipher`). Presentation-time mapping (NTP offset) belongs to the caller; we hand out
//! the raw 32.32 client timestamp.

pub mod annexb;
pub mod codec_config;
pub mod header;
pub mod report;
pub mod stream;
pub mod writer;

pub use annexb::{AccessUnitInfo, annexb_to_avcc, avcc_to_annexb_in_place};
pub use codec_config::{CodecConfig, CodecRecordError, VideoCodec};
pub use header::{MirrorHeader, PacketType, PictureSizes};
pub use report::{ReportError, StreamReport};
pub use stream::{MirrorEvent, MirrorStream, VideoFrame};
pub use writer::{MirrorWriter, build_avcc_record, build_hvcc_record};

/// Every mirror record starts with a header of exactly this many bytes.
pub const HEADER_LEN: usize = 128;

/// Largest payload we accept. Real IDR packets are hundreds of kB (PROTOCOL.md §8.20); anything
/// beyond this is a broken or hostile stream and must not make the shell allocate it.
pub const MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// The Annex-B start code written in front of every NAL unit we hand out.
pub const START_CODE: [u8; 4] = [0x00, 0x00, 0x00, 0x01];

/// Everything that ends a mirror stream. The shell logs it and closes the data connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("mirror payload of {size} bytes exceeds the {max}-byte limit")]
    PayloadTooLarge { size: u64, max: u32 },
    #[error("header announces {expected} payload bytes but {actual} were handed in")]
    PayloadLengthMismatch { expected: u32, actual: usize },
    #[error(
        "NAL length prefix at offset {offset} is cut short: {remaining} bytes left (wrong video key?)"
    )]
    TruncatedLengthPrefix { offset: usize, remaining: usize },
    #[error(
        "NAL at offset {offset} claims {len} bytes but only {remaining} remain (wrong video key?)"
    )]
    NalOverrun {
        offset: usize,
        len: u32,
        remaining: usize,
    },
    #[error("empty NAL unit at offset {offset} (wrong video key?)")]
    EmptyNal { offset: usize },
    #[error("forbidden_zero_bit set in the NAL header at offset {offset} (wrong video key?)")]
    ForbiddenZeroBit { offset: usize },
    #[error("unusable codec record: {0}")]
    CodecRecord(#[from] CodecRecordError),
    #[error("codec changed mid-stream from {from:?} to {to:?}")]
    CodecChanged { from: VideoCodec, to: VideoCodec },
}

//! H.264 encoding for the built-in sender: I420 frames in, one Annex-B access unit out.
//!
//! Wraps the `openh264` crate (Cisco's encoder, built from source) with low-latency settings:
//! constrained-baseline profile (no B-frames, so every AU is ready as soon as its frame is
//! encoded), one slice per picture, one thread, no frame skipping, bitrate rate control,
//! BT.709 limited-range VUI. An IDR comes first, then every two seconds, and whenever the
//! caller forces one. Every keyframe AU starts with SPS and PPS (re-inserted from the last
//! ones seen when the encoder left them out), so a receiver that joins late can decode.
//!
//! Output is normalised: every NAL gets a 4-byte start code; in keyframes SPS then PPS come
//! first. Owns: encoder settings, the IDR schedule, parameter-set bookkeeping, Annex-B
//! splitting. Must not touch: the network, framing for AirPlay (AVCC, headers, encryption)
//! or clocks (timestamps come from the frame count).

use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};
use thiserror::Error;

use super::frame::{FrameError, I420Frame, check_size};

/// NAL unit type of a non-IDR coded slice.
pub const NAL_SLICE: u8 = 0x01;
/// NAL unit type of an IDR coded slice.
pub const NAL_IDR: u8 = 0x05;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 0x07;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 0x08;
/// The start code written in front of every NAL.
pub const START_CODE: [u8; 4] = [0x00, 0x00, 0x00, 0x01];
/// Seconds between periodic IDR frames.
pub const IDR_INTERVAL_SECS: u32 = 2;
/// Highest frame rate accepted.
pub const MAX_FPS: u32 = 120;
/// Lowest and highest target bitrates accepted, bits per second.
pub const MIN_BITRATE_BPS: u32 = 16_000;
pub const MAX_BITRATE_BPS: u32 = 100_000_000;

/// Why the encoder could not be made or could not encode a frame.
#[derive(Debug, Error)]
pub enum EncoderError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("frame is {got_width}x{got_height}, the encoder was made for {width}x{height}")]
    FrameSizeMismatch {
        width: u32,
        height: u32,
        got_width: u32,
        got_height: u32,
    },
    #[error("frame rate {0} is outside 1..={MAX_FPS}")]
    InvalidFrameRate(u32),
    #[error("bitrate {0} bps is outside {MIN_BITRATE_BPS}..={MAX_BITRATE_BPS}")]
    InvalidBitrate(u32),
    #[error("openh264: {0}")]
    OpenH264(String),
    #[error("the encoder produced no picture for this frame")]
    NoPicture,
    #[error("keyframe without SPS/PPS and none seen before")]
    MissingParameterSets,
}

impl From<openh264::Error> for EncoderError {
    fn from(err: openh264::Error) -> Self {
        EncoderError::OpenH264(err.to_string())
    }
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedAccessUnit {
    /// The whole access unit in Annex-B form (4-byte start codes).
    pub annexb: Vec<u8>,
    /// Whether this AU is an IDR picture (decodable on its own).
    pub keyframe: bool,
    /// On keyframes: the SPS NALs (no start codes) that also lead `annexb`; empty otherwise.
    pub sps: Vec<Vec<u8>>,
    /// On keyframes: the PPS NALs (no start codes) that follow the SPS in `annexb`.
    pub pps: Vec<Vec<u8>>,
}

/// An H.264 encoder for one frame size.
pub struct H264Encoder {
    inner: Encoder,
    width: u32,
    height: u32,
    fps: u32,
    idr_interval: u32,
    /// Frames encoded since the last IDR, that IDR included; `None` before the first frame.
    since_idr: Option<u32>,
    frames: u64,
    parameter_sets: ParameterSets,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// An encoder for `width`x`height` (even, 96x64..=3840x2160) at `fps` frames per second
    /// aiming at `bitrate_bps`.
    pub fn new(width: u32, height: u32, fps: u32, bitrate_bps: u32) -> Result<Self, EncoderError> {
        check_size(width, height)?;
        if !(1..=MAX_FPS).contains(&fps) {
            return Err(EncoderError::InvalidFrameRate(fps));
        }
        if !(MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&bitrate_bps) {
            return Err(EncoderError::InvalidBitrate(bitrate_bps));
        }
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(false)
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .complexity(Complexity::Low)
            .num_threads(1)
            .scene_change_detect(false)
            .background_detection(false)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            // IDRs are scheduled here, not by the encoder, so forced ones restart the count.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .vui(VuiConfig::bt709());
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)?;
        Ok(Self {
            inner,
            width,
            height,
            fps,
            idr_interval: fps * IDR_INTERVAL_SECS,
            since_idr: None,
            frames: 0,
            parameter_sets: ParameterSets::default(),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// Frames encoded so far.
    pub fn frames_encoded(&self) -> u64 {
        self.frames
    }

    /// Encodes the next frame. The first frame, every frame two seconds after the last IDR,
    /// and any frame with `force_idr` come out as keyframes carrying SPS and PPS.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_idr: bool,
    ) -> Result<EncodedAccessUnit, EncoderError> {
        frame.validate()?;
        if frame.width != self.width || frame.height != self.height {
            return Err(EncoderError::FrameSizeMismatch {
                width: self.width,
                height: self.height,
                got_width: frame.width,
                got_height: frame.height,
            });
        }
        let due = self.since_idr.is_none_or(|n| n >= self.idr_interval);
        if force_idr || due {
            self.inner.force_intra_frame();
        }
        let timestamp = Timestamp::from_millis(self.frames * 1000 / u64::from(self.fps));
        let bitstream = self.inner.encode_at(&FrameSource(frame), timestamp)?;
        if matches!(bitstream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Err(EncoderError::NoPicture);
        }
        let raw = bitstream.to_vec();
        let au = self.parameter_sets.assemble(&raw)?;
        self.frames += 1;
        self.since_idr = Some(match (au.keyframe, self.since_idr) {
            (true, _) | (false, None) => 1,
            (false, Some(n)) => n.saturating_add(1),
        });
        Ok(au)
    }
}

/// The last SPS and PPS the encoder emitted, kept to lead every keyframe.
#[derive(Debug, Default)]
struct ParameterSets {
    last_sps: Vec<Vec<u8>>,
    last_pps: Vec<Vec<u8>>,
}

impl ParameterSets {
    /// Rebuilds the encoder's output as a normalised AU, remembering or re-inserting SPS/PPS.
    fn assemble(&mut self, raw: &[u8]) -> Result<EncodedAccessUnit, EncoderError> {
        let nals = split_annexb(raw);
        let mut sps = Vec::new();
        let mut pps = Vec::new();
        let mut picture = Vec::new();
        for nal in nals {
            match nal_unit_type(nal) {
                Some(NAL_SPS) => sps.push(nal.to_vec()),
                Some(NAL_PPS) => pps.push(nal.to_vec()),
                Some(_) => picture.push(nal),
                None => {}
            }
        }
        if !picture
            .iter()
            .any(|n| matches!(nal_unit_type(n), Some(NAL_IDR | NAL_SLICE)))
        {
            return Err(EncoderError::NoPicture);
        }
        let keyframe = picture.iter().any(|n| nal_unit_type(n) == Some(NAL_IDR));
        if !sps.is_empty() {
            self.last_sps.clone_from(&sps);
        }
        if !pps.is_empty() {
            self.last_pps.clone_from(&pps);
        }
        if keyframe {
            if sps.is_empty() {
                sps.clone_from(&self.last_sps);
            }
            if pps.is_empty() {
                pps.clone_from(&self.last_pps);
            }
            if sps.is_empty() || pps.is_empty() {
                return Err(EncoderError::MissingParameterSets);
            }
        } else {
            sps.clear();
            pps.clear();
        }
        let size: usize = sps.iter().chain(&pps).map(|n| n.len() + 4).sum::<usize>()
            + picture.iter().map(|n| n.len() + 4).sum::<usize>();
        let mut annexb = Vec::with_capacity(size);
        for nal in sps.iter().chain(&pps).map(Vec::as_slice).chain(picture) {
            annexb.extend_from_slice(&START_CODE);
            annexb.extend_from_slice(nal);
        }
        Ok(EncodedAccessUnit {
            annexb,
            keyframe,
            sps,
            pps,
        })
    }
}

/// Lends an [`I420Frame`] to openh264 without copying (its planes are unpadded).
struct FrameSource<'a>(&'a I420Frame);

impl YUVSource for FrameSource<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let chroma = self.0.chroma_width() as usize;
        (self.0.width as usize, chroma, chroma)
    }

    fn y(&self) -> &[u8] {
        &self.0.y
    }

    fn u(&self) -> &[u8] {
        &self.0.u
    }

    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

/// The NAL unit type (low five bits of the first byte), `None` for an empty NAL.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1F)
}

/// Splits an Annex-B byte stream into NAL units without their start codes. Both 3-byte
/// (`00 00 01`) and 4-byte (`00 00 00 01`) start codes are recognised; bytes before the first
/// start code, trailing zero bytes and empty units are dropped.
pub fn split_annexb(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0x00 && stream[i + 1] == 0x00 && stream[i + 2] == 0x01 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &(_, body)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(stream.len(), |&(code, _)| code);
        let mut nal = &stream[body..end];
        while let [rest @ .., 0x00] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let stream = [
            0xAA, // junk before the first start code
            0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0x00, // SPS with a trailing zero
            0x00, 0x00, 0x01, 0x68, 0xCE, // PPS after a 3-byte code
            0x00, 0x00, 0x00, 0x01, 0x65, 0x88, 0x84, // IDR
        ];
        let nals = split_annexb(&stream);
        assert_eq!(
            nals,
            vec![
                &[0x67, 0x42][..],
                &[0x68, 0xCE][..],
                &[0x65, 0x88, 0x84][..]
            ]
        );
        assert_eq!(
            nals.iter().map(|n| nal_unit_type(n)).collect::<Vec<_>>(),
            vec![Some(NAL_SPS), Some(NAL_PPS), Some(NAL_IDR)]
        );
    }

    #[test]
    fn split_handles_empty_and_startless_input() {
        assert!(split_annexb(&[]).is_empty());
        assert!(split_annexb(&[0x65, 0x88]).is_empty());
        assert!(split_annexb(&[0x00, 0x00, 0x01]).is_empty());
        assert!(split_annexb(&[0x00, 0x00, 0x01, 0x00, 0x00, 0x01]).is_empty());
        assert_eq!(split_annexb(&[0x00, 0x00, 0x01, 0x41]), vec![&[0x41][..]]);
    }

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| [0x00, 0x00, 0x01].iter().chain(n.iter()).copied())
            .collect()
    }

    #[test]
    fn keyframes_without_parameter_sets_get_the_last_ones() {
        let (sps, pps) = (&[0x67, 0x42, 0xC0, 0x0D][..], &[0x68, 0xCE, 0x3C][..]);
        let mut sets = ParameterSets::default();
        let first = sets
            .assemble(&annexb(&[sps, pps, &[0x65, 0x88, 0x01]]))
            .unwrap();
        assert!(first.keyframe);
        assert_eq!(
            (first.sps.clone(), first.pps.clone()),
            (vec![sps.to_vec()], vec![pps.to_vec()])
        );

        let p = sets.assemble(&annexb(&[&[0x41, 0x9A, 0x02]])).unwrap();
        assert!(!p.keyframe && p.sps.is_empty() && p.pps.is_empty());
        assert_eq!(p.annexb, [0x00, 0x00, 0x00, 0x01, 0x41, 0x9A, 0x02]);

        // An IDR the encoder sent bare comes out with SPS and PPS in front.
        let bare = sets.assemble(&annexb(&[&[0x65, 0x88, 0x03]])).unwrap();
        assert!(bare.keyframe);
        assert_eq!(bare.sps, vec![sps.to_vec()]);
        let mut want = Vec::new();
        for nal in [sps, pps, &[0x65, 0x88, 0x03][..]] {
            want.extend_from_slice(&START_CODE);
            want.extend_from_slice(nal);
        }
        assert_eq!(bare.annexb, want);
    }

    #[test]
    fn rejects_keyframes_with_no_parameter_sets_known_and_empty_output() {
        let mut sets = ParameterSets::default();
        assert!(matches!(
            sets.assemble(&annexb(&[&[0x65, 0x88]])),
            Err(EncoderError::MissingParameterSets)
        ));
        assert!(matches!(sets.assemble(&[]), Err(EncoderError::NoPicture)));
        assert!(matches!(
            sets.assemble(&annexb(&[&[0x67, 0x42], &[0x68, 0xCE]])),
            Err(EncoderError::NoPicture)
        ));
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(matches!(
            H264Encoder::new(321, 240, 30, 500_000),
            Err(EncoderError::Frame(FrameError::OddSize { .. }))
        ));
        assert!(matches!(
            H264Encoder::new(320, 239, 30, 500_000),
            Err(EncoderError::Frame(FrameError::OddSize { .. }))
        ));
        assert!(matches!(
            H264Encoder::new(320, 240, 0, 500_000),
            Err(EncoderError::InvalidFrameRate(0))
        ));
        assert!(matches!(
            H264Encoder::new(320, 240, 30, 1_000),
            Err(EncoderError::InvalidBitrate(1_000))
        ));
    }
}

//! Video output: the [`VideoSink`] trait, the stream types it takes, and the table of
//! backends that implement it.
//!
//! Owns: turning Annex-B access units into pictures on a screen (or into a file, or
//! nowhere). It receives [`EncodedFrame`]s that are already decrypted and converted to
//! Annex-B with parameter sets in front of each IDR; it knows nothing of RTSP, AirPlay
//! crypto, sockets or the mirroring wire format, and must not import `proto` or `net`.
//!
//! Backends live in [`BACKENDS`]: `gst` (GStreamer, behind the default `gst` feature),
//! `capture` (writes the elementary stream, decodes nothing) and `null` (counts and
//! discards). `null` and `capture` always compile. `--dump-video` wraps any backend in a
//! tee ([`capture::DumpTee`]) that writes exactly the bytes pushed.

pub mod capture;
pub mod gst;
pub mod null;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use gst::decoder_choice::DecoderCandidate;

/// The video codec of a mirroring stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    /// GStreamer caps for an Annex-B byte stream of whole access units.
    pub fn byte_stream_caps(self) -> &'static str {
        match self {
            Codec::H264 => "video/x-h264,stream-format=byte-stream,alignment=au",
            Codec::H265 => "video/x-h265,stream-format=byte-stream,alignment=au",
        }
    }

    /// The GStreamer parser element for this codec.
    pub fn parser_factory(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::H264 => "H.264",
            Codec::H265 => "H.265",
        })
    }
}

/// One access unit, ready for a decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B access unit (start codes `00 00 00 01`); parameter sets in front of IDRs.
    pub data: Vec<u8>,
    /// Presentation time as pipeline running time; `None` = show as soon as possible.
    pub pts: Option<Duration>,
    /// True for an IDR (random access point). Decoding resumes only at one of these.
    pub keyframe: bool,
}

/// How to build a video sink. Every field maps to one CLI flag of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSinkConfig {
    /// `"gst"` (default), `"capture"` or `"null"`.
    pub backend: String,
    /// Decoder element (optionally with properties) replacing the ranked choice.
    pub decoder: Option<String>,
    /// Pipeline description replacing only the sink end (after `videoscale`).
    pub sink: Option<String>,
    /// `false`: show each picture as soon as it is decoded (sinks get `sync=false`).
    pub sync: bool,
    /// Write every pushed byte to this file (`--dump-video`); the `capture` backend's output.
    pub dump_path: Option<PathBuf>,
}

impl Default for VideoSinkConfig {
    fn default() -> Self {
        VideoSinkConfig {
            backend: "gst".to_owned(),
            decoder: None,
            sink: None,
            sync: true,
            dump_path: None,
        }
    }
}

/// Counters since the sink was built (they survive stop/start and pipeline rebuilds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoStats {
    /// Calls to `push` while started.
    pub frames_pushed: u64,
    /// Pictures that came out of the decoder.
    pub frames_decoded: u64,
    /// Access units not handed to the decoder (waiting for a keyframe, paused, backlog).
    pub frames_dropped: u64,
    /// Errors seen: bus errors, refused pushes, dump write failures.
    pub errors: u64,
    /// Pipelines rebuilt after a decoder error.
    pub rebuilds: u64,
}

/// A place decoded video goes. Calls come from one task at a time.
pub trait VideoSink: Send {
    /// Get ready for a stream of `codec`; restarts if already started.
    fn start(&mut self, codec: Codec) -> Result<(), MediaError>;
    /// Hand over one access unit. Never blocks on decoding.
    fn push(&mut self, frame: EncodedFrame) -> Result<(), MediaError>;
    /// Freeze on the last picture (the sender announced a pause).
    fn pause(&mut self);
    /// Leave the pause.
    fn resume(&mut self);
    /// Back to idle (nothing shown) within a second; `start` may follow.
    fn stop(&mut self);
    /// Counters so far.
    fn stats(&self) -> VideoStats;
    /// Which decoder and sink are used, and why.
    fn describe(&self) -> String;
    /// Current running time of the output clock, the time base of [`EncodedFrame::pts`];
    /// `None` where the backend has no clock (or is not started).
    fn running_time(&self) -> Option<Duration> {
        None
    }
}

/// Errors of the media layer.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("unknown video backend {name:?} (known: {known})")]
    UnknownBackend { name: String, known: String },
    #[error("video backend {0:?} is not compiled into this build")]
    BackendNotCompiled(String),
    #[error("bad video configuration: {0}")]
    Config(String),
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("no usable {codec} decoder: {reason}")]
    NoDecoder { codec: Codec, reason: String },
    #[error("could not build the video pipeline: {0}")]
    Pipeline(String),
    #[error("video pipeline refused state {state}: {detail}")]
    StateChange { state: String, detail: String },
    #[error("video sink is not started")]
    NotStarted,
    #[error("{element}: {message}")]
    Stream {
        element: String,
        message: String,
        debug: Option<String>,
    },
    #[error("decoder keeps failing ({rebuilds} rebuilds without a picture): {message}")]
    DecoderFailed { rebuilds: u64, message: String },
    #[error("video file: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds one backend from the configuration.
pub type BackendBuilder = fn(&VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError>;

/// The backends, by name. The first is the default.
pub const BACKENDS: &[(&str, BackendBuilder)] = &[
    ("gst", build_gst),
    ("capture", capture::build_capture),
    ("null", null::build_null),
];

#[cfg(feature = "gst")]
fn build_gst(cfg: &VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError> {
    Ok(Box::new(gst::GstVideoSink::new(cfg)?))
}

#[cfg(not(feature = "gst"))]
fn build_gst(_cfg: &VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError> {
    Err(MediaError::BackendNotCompiled("gst".to_owned()))
}

/// Builds the configured backend; with `dump_path` set (and a backend other than
/// `capture`, which writes there itself) the sink is wrapped in a [`capture::DumpTee`].
pub fn build_video_sink(cfg: &VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError> {
    let name = if cfg.backend.is_empty() {
        BACKENDS[0].0
    } else {
        cfg.backend.as_str()
    };
    let Some((_, builder)) = BACKENDS.iter().find(|(n, _)| *n == name) else {
        return Err(MediaError::UnknownBackend {
            name: name.to_owned(),
            known: BACKENDS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let sink = builder(cfg)?;
    match &cfg.dump_path {
        Some(path) if name != "capture" => Ok(Box::new(capture::DumpTee::new(sink, path)?)),
        _ => Ok(sink),
    }
}

/// Decoders for `codec` present in this GStreamer registry, best first.
/// Empty without the `gst` feature or when GStreamer cannot start.
pub fn available_decoders(codec: Codec) -> Vec<DecoderCandidate> {
    #[cfg(feature = "gst")]
    {
        gst::registry::available_decoders(codec)
    }
    #[cfg(not(feature = "gst"))]
    {
        let _ = codec;
        Vec::new()
    }
}

/// Whether an H.265 decoder is present (decides whether the receiver advertises H.265).
pub fn h265_decoder_available() -> bool {
    !available_decoders(Codec::H265).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backend_is_named_with_the_known_ones() {
        let cfg = VideoSinkConfig {
            backend: "vlc".into(),
            ..VideoSinkConfig::default()
        };
        match build_video_sink(&cfg) {
            Err(MediaError::UnknownBackend { name, known }) => {
                assert_eq!(name, "vlc");
                assert_eq!(known, "gst, capture, null");
            }
            Err(other) => panic!("wrong error {other}"),
            Ok(_) => panic!("built a backend named vlc"),
        }
    }

    #[test]
    fn null_backend_builds_and_counts() {
        let cfg = VideoSinkConfig {
            backend: "null".into(),
            ..VideoSinkConfig::default()
        };
        let mut sink = build_video_sink(&cfg).expect("null backend");
        assert!(matches!(
            sink.push(EncodedFrame {
                data: vec![0, 0, 0, 1, 0x65],
                pts: None,
                keyframe: true,
            }),
            Err(MediaError::NotStarted)
        ));
        sink.start(Codec::H264).expect("start");
        for _ in 0..3 {
            sink.push(EncodedFrame {
                data: vec![0, 0, 0, 1, 0x41],
                pts: None,
                keyframe: false,
            })
            .expect("push");
        }
        assert_eq!(sink.stats().frames_pushed, 3);
        assert_eq!(sink.stats().frames_decoded, 0);
    }

    #[test]
    fn capture_backend_needs_a_path() {
        let cfg = VideoSinkConfig {
            backend: "capture".into(),
            ..VideoSinkConfig::default()
        };
        assert!(matches!(build_video_sink(&cfg), Err(MediaError::Config(_))));
    }
}

//! The built-in sender: plays an iPhone so `--test-stream` can show a test picture on the TV
//! and the end-to-end tests have something real to receive.
//!
//! Content side (here): [`pattern`] draws a moving I420 test picture, [`font`] is its bitmap
//! font, [`frame`] the I420 frame type, [`encoder`] turns frames into H.264 Annex-B access
//! units. The protocol client that sends them to a receiver builds on this API and lives
//! beside it. Future: `tone.rs`, a test tone generator for the audio stream.
//!
//! Must not touch: the receiver's modules (`proto` may be used, never changed from here).

pub mod encoder;
pub mod font;
pub mod frame;
pub mod pattern;

pub use encoder::{EncodedAccessUnit, EncoderError, H264Encoder, split_annexb};
pub use frame::{FrameError, I420Frame, Rect, Yuv};
pub use pattern::{PatternError, TestPattern, bar_colour_yuv};

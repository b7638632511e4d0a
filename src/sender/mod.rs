//! The built-in sender: plays an iPhone so `--test-stream` can show a test picture on the TV
//! and the end-to-end tests have something real to receive.
//!
//! Content side: [`pattern`] draws a moving I420 test picture, [`font`] is its bitmap font,
//! [`frame`] the I420 frame type, [`encoder`] turns frames into H.264 Annex-B access units.
//!
//! Protocol side (a client that behaves like iOS, PROTOCOL.md §7.1): [`client`] is the control
//! connection, [`info`] reads what the receiver says about itself, [`handshake`] runs the
//! request sequence up to the mirror SETUP, [`fairplay_pairs`] holds the recorded FairPlay
//! material it replays, [`profile`] the imitated clients' shapes, [`timing`] the sender clock
//! and timing responder, [`mirror`] the paced, encrypted video stream. [`test_stream`] runs a whole session for `--test-stream` and [`report`] judges it.
//! Room is left for an audio stream (type 96) beside [`mirror`] when audio content exists.
//!
//! Must not touch: the receiver's modules (`proto` may be used, never changed from here;
//! `test_stream` reads only [`crate::app::App`]'s public counters).

pub mod client;
pub mod encoder;
pub mod fairplay_pairs;
pub mod font;
pub mod frame;
pub mod handshake;
pub mod info;
pub mod mirror;
pub mod pattern;
pub mod profile;
pub mod report;
pub mod test_stream;
pub mod timing;

pub use encoder::{EncodedAccessUnit, EncoderError, H264Encoder, split_annexb};
pub use frame::{FrameError, I420Frame, Rect, Yuv};
pub use pattern::{PatternError, TestPattern, bar_colour_yuv};
pub use report::Report;
pub use test_stream::{LiveCallback, LiveStatus, TestStreamOptions, run_cli, run_session};

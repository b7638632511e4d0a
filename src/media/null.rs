//! The `null` video backend: accepts access units, counts them, shows nothing.
//!
//! Owns only its counters. Used where no display or GStreamer exists (tests of other
//! layers, `--video-backend null`) and as the inner sink of the `capture` backend.
//! Must not touch files, GStreamer or anything outside `media`.

use super::{Codec, EncodedFrame, MediaError, VideoSink, VideoSinkConfig, VideoStats};

/// Counts frames and throws them away.
#[derive(Debug, Default)]
pub struct NullSink {
    codec: Option<Codec>,
    stats: VideoStats,
}

impl NullSink {
    pub fn new() -> Self {
        NullSink::default()
    }
}

/// Builder for the backend table.
pub fn build_null(_cfg: &VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError> {
    Ok(Box::new(NullSink::new()))
}

impl VideoSink for NullSink {
    fn start(&mut self, codec: Codec) -> Result<(), MediaError> {
        self.codec = Some(codec);
        Ok(())
    }

    fn push(&mut self, _frame: EncodedFrame) -> Result<(), MediaError> {
        if self.codec.is_none() {
            return Err(MediaError::NotStarted);
        }
        self.stats.frames_pushed += 1;
        Ok(())
    }

    fn pause(&mut self) {}

    fn resume(&mut self) {}

    fn stop(&mut self) {
        self.codec = None;
    }

    fn stats(&self) -> VideoStats {
        self.stats
    }

    fn describe(&self) -> String {
        "null backend: frames are counted and discarded".to_owned()
    }
}

//! Elementary-stream files: the `capture` backend and the `--dump-video` tee.
//!
//! Owns the dump file: it is created (truncated) when the sink is built and receives
//! exactly the bytes of every pushed access unit, in order, parameter sets included, so
//! `gst-launch-1.0 filesrc ! h264parse ! ...` or `ffplay` can replay it. Sessions that
//! stop and start again append to the same file. A write failure is logged, counted and
//! ends the dump; it never stops the video. Must not decode, and knows nothing of the
//! protocol that produced the stream.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::null::NullSink;
use super::{Codec, EncodedFrame, MediaError, VideoSink, VideoSinkConfig, VideoStats};

const DUMP_BUFFER_BYTES: usize = 256 * 1024;

/// Builder for the backend table: writes the stream to `dump_path`, decodes nothing.
pub fn build_capture(cfg: &VideoSinkConfig) -> Result<Box<dyn VideoSink>, MediaError> {
    let Some(path) = &cfg.dump_path else {
        return Err(MediaError::Config(
            "the capture backend needs a file (--dump-video PATH)".to_owned(),
        ));
    };
    Ok(Box::new(DumpTee::new(Box::new(NullSink::new()), path)?))
}

/// Writes every pushed access unit to a file, then hands it to the inner sink.
pub struct DumpTee {
    inner: Box<dyn VideoSink>,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    bytes_written: u64,
    write_errors: u64,
}

impl DumpTee {
    /// Creates (truncates) `path` and wraps `inner`.
    pub fn new(inner: Box<dyn VideoSink>, path: &Path) -> Result<Self, MediaError> {
        let file = File::create(path)?;
        tracing::info!(path = %path.display(), "video dump file opened");
        Ok(DumpTee {
            inner,
            path: path.to_owned(),
            writer: Some(BufWriter::with_capacity(DUMP_BUFFER_BYTES, file)),
            bytes_written: 0,
            write_errors: 0,
        })
    }

    /// Bytes written to the dump so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    fn write(&mut self, data: &[u8], flush: bool) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let result = writer
            .write_all(data)
            .and_then(|()| if flush { writer.flush() } else { Ok(()) });
        match result {
            Ok(()) => self.bytes_written += data.len() as u64,
            Err(err) => {
                self.write_errors += 1;
                self.writer = None;
                tracing::warn!(path = %self.path.display(), %err, "video dump stopped");
            }
        }
    }

    fn flush(&mut self) {
        if let Some(writer) = self.writer.as_mut()
            && let Err(err) = writer.flush()
        {
            self.write_errors += 1;
            self.writer = None;
            tracing::warn!(path = %self.path.display(), %err, "video dump stopped");
        }
    }
}

impl VideoSink for DumpTee {
    fn start(&mut self, codec: Codec) -> Result<(), MediaError> {
        self.inner.start(codec)
    }

    fn push(&mut self, frame: EncodedFrame) -> Result<(), MediaError> {
        // Flushing at each keyframe bounds what a crash can lose to one GOP.
        self.write(&frame.data, frame.keyframe);
        self.inner.push(frame)
    }

    fn pause(&mut self) {
        self.inner.pause();
    }

    fn resume(&mut self) {
        self.inner.resume();
    }

    fn stop(&mut self) {
        self.flush();
        self.inner.stop();
    }

    fn stats(&self) -> VideoStats {
        let mut stats = self.inner.stats();
        stats.errors += self.write_errors;
        stats
    }

    fn describe(&self) -> String {
        format!(
            "{}; every access unit also written to {}",
            self.inner.describe(),
            self.path.display()
        )
    }

    fn running_time(&self) -> Option<Duration> {
        self.inner.running_time()
    }
}

impl Drop for DumpTee {
    fn drop(&mut self) {
        self.flush();
    }
}

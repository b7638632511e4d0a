//! The `gst` backend: a [`VideoSink`] that decodes through a GStreamer pipeline.
//!
//! Owns the pipeline's life: built at `start`, rebuilt after a recoverable error (the
//! session continues from the next keyframe), paused and resumed on request, set to NULL
//! at `stop`. The bus is read on every push, so errors surface as typed [`MediaError`]s
//! without a thread of its own. Must not block in `push`: decoding runs on GStreamer's
//! streaming threads behind the appsrc queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gstreamer as gst;
use gstreamer_app as gst_app;

use super::bus::{self, BusEvent, Recovery};
use super::decoder_choice::{DecoderChoice, DecoderChoiceError, choose_decoder};
use super::pipeline::{ActivePipeline, MAX_BACKLOG_BYTES, pipeline_description};
use super::registry;
use super::sink_choice::{SinkChoice, choose_sink};
use crate::media::{Codec, EncodedFrame, MediaError, VideoSink, VideoSinkConfig, VideoStats};

/// Rebuilds in a row without a single decoded picture before the sink gives up.
const MAX_FRUITLESS_REBUILDS: u64 = 3;

/// GStreamer video output.
pub struct GstVideoSink {
    decoder_override: Option<String>,
    sink: SinkChoice,
    sync: bool,
    codec: Option<Codec>,
    decoder: Option<DecoderChoice>,
    active: Option<ActivePipeline>,
    paused: bool,
    need_keyframe: bool,
    stats: VideoStats,
    decoded: Arc<AtomicU64>,
    decoded_at_last_rebuild: u64,
    fruitless_rebuilds: u64,
}

impl GstVideoSink {
    /// Initialises GStreamer and chooses the sink end; the decoder is chosen at `start`.
    pub fn new(cfg: &VideoSinkConfig) -> Result<Self, MediaError> {
        registry::ensure_init()?;
        let facts = registry::machine_facts();
        let sink = choose_sink(&facts, cfg.sink.as_deref());
        tracing::info!(sink = %sink.description, reason = %sink.reason, ?facts, "video sink chosen");
        Ok(GstVideoSink {
            decoder_override: cfg.decoder.clone(),
            sink,
            sync: cfg.sync,
            codec: None,
            decoder: None,
            active: None,
            paused: false,
            need_keyframe: true,
            stats: VideoStats::default(),
            decoded: Arc::new(AtomicU64::new(0)),
            decoded_at_last_rebuild: 0,
            fruitless_rebuilds: 0,
        })
    }

    /// The appsink called `name` in the current pipeline (test and tooling hook).
    pub fn appsink(&self, name: &str) -> Option<gst_app::AppSink> {
        use gstreamer::prelude::Cast;
        self.element(name)?.downcast::<gst_app::AppSink>().ok()
    }

    /// Any element of the current pipeline by name (decoder: `airglass_decoder`).
    pub fn element(&self, name: &str) -> Option<gst::Element> {
        self.active.as_ref()?.by_name(name)
    }

    pub fn sink_choice(&self) -> &SinkChoice {
        &self.sink
    }

    pub fn decoder_choice(&self) -> Option<&DecoderChoice> {
        self.decoder.as_ref()
    }

    /// True between `start` and `stop` while a pipeline exists.
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    fn choose_decoder(&self, codec: Codec) -> Result<DecoderChoice, MediaError> {
        let available = registry::decoder_factories(self.decoder_override.as_deref());
        choose_decoder(codec, &available, self.decoder_override.as_deref()).map_err(
            |e: DecoderChoiceError| MediaError::NoDecoder {
                codec,
                reason: e.to_string(),
            },
        )
    }

    fn launch(&mut self, codec: Codec, decoder: &DecoderChoice) -> Result<(), MediaError> {
        let description = pipeline_description(codec, decoder, &self.sink.description);
        tracing::debug!(%description, "video pipeline");
        let pipeline =
            ActivePipeline::build(codec, &description, self.sync, Arc::clone(&self.decoded))?;
        pipeline.set_playing(!self.paused)?;
        self.active = Some(pipeline);
        self.need_keyframe = true;
        Ok(())
    }

    fn tear_down(&mut self) {
        if let Some(active) = self.active.take() {
            active.shut_down();
        }
    }

    /// Replaces a failed pipeline with a fresh one of the same shape.
    fn rebuild(&mut self, cause: &str) -> Result<(), MediaError> {
        let (Some(codec), Some(decoder)) = (self.codec, self.decoder.clone()) else {
            return Err(MediaError::NotStarted);
        };
        let decoded = self.decoded.load(Ordering::Relaxed);
        if decoded == self.decoded_at_last_rebuild && self.stats.rebuilds > 0 {
            self.fruitless_rebuilds += 1;
        } else {
            self.fruitless_rebuilds = 0;
        }
        self.decoded_at_last_rebuild = decoded;
        self.tear_down();
        if self.fruitless_rebuilds >= MAX_FRUITLESS_REBUILDS {
            return Err(MediaError::DecoderFailed {
                rebuilds: self.stats.rebuilds,
                message: cause.to_owned(),
            });
        }
        self.stats.rebuilds += 1;
        tracing::warn!(
            rebuilds = self.stats.rebuilds,
            cause,
            "rebuilding video pipeline; waiting for a keyframe"
        );
        self.launch(codec, &decoder)
    }

    /// Reads the bus; rebuilds on a recoverable error, tears down on a fatal one.
    fn service_bus(&mut self) -> Result<(), MediaError> {
        let Some(active) = self.active.as_ref() else {
            return Err(MediaError::NotStarted);
        };
        let events = bus::drain(active.bus(), &active.name());
        let mut rebuild_cause = None;
        for event in events {
            match event {
                BusEvent::Error {
                    element,
                    message,
                    debug,
                    recovery,
                } => {
                    self.stats.errors += 1;
                    if recovery == Recovery::Fatal {
                        self.tear_down();
                        return Err(MediaError::Stream {
                            element,
                            message,
                            debug,
                        });
                    }
                    rebuild_cause.get_or_insert(format!("{element}: {message}"));
                }
                BusEvent::EndOfStream => {
                    rebuild_cause.get_or_insert_with(|| "unexpected end of stream".to_owned());
                }
            }
        }
        match rebuild_cause {
            Some(cause) => self.rebuild(&cause),
            None => Ok(()),
        }
    }
}

impl VideoSink for GstVideoSink {
    fn start(&mut self, codec: Codec) -> Result<(), MediaError> {
        self.tear_down();
        let decoder = self.choose_decoder(codec)?;
        tracing::info!(%codec, decoder = %decoder.element, reason = %decoder.reason, "video decoder chosen");
        self.codec = Some(codec);
        self.paused = false;
        self.fruitless_rebuilds = 0;
        self.decoded_at_last_rebuild = self.decoded.load(Ordering::Relaxed);
        let result = self.launch(codec, &decoder);
        self.decoder = Some(decoder);
        if result.is_err() {
            self.tear_down();
        }
        result
    }

    fn push(&mut self, frame: EncodedFrame) -> Result<(), MediaError> {
        self.service_bus()?;
        self.stats.frames_pushed += 1;
        if self.paused {
            self.stats.frames_dropped += 1;
            self.need_keyframe = true;
            return Ok(());
        }
        if self.need_keyframe {
            if !frame.keyframe {
                self.stats.frames_dropped += 1;
                return Ok(());
            }
            self.need_keyframe = false;
        }
        let Some(active) = self.active.as_ref() else {
            return Err(MediaError::NotStarted);
        };
        if active.backlog_bytes() > MAX_BACKLOG_BYTES {
            tracing::warn!(
                bytes = active.backlog_bytes(),
                "decoder is not keeping up; dropping until the next keyframe"
            );
            self.stats.frames_dropped += 1;
            self.need_keyframe = true;
            return Ok(());
        }
        if let Err(flow) = active.push(frame) {
            self.stats.errors += 1;
            tracing::warn!(?flow, "appsrc refused an access unit");
            // The bus usually says why; if it does not, rebuild anyway.
            self.service_bus()?;
            if self.need_keyframe {
                return Ok(());
            }
            return self.rebuild(&format!("appsrc push: {flow:?}"));
        }
        Ok(())
    }

    fn pause(&mut self) {
        self.paused = true;
        if let Some(active) = self.active.as_ref()
            && let Err(err) = active.set_playing(false)
        {
            self.stats.errors += 1;
            tracing::warn!(%err, "could not pause video");
        }
    }

    fn resume(&mut self) {
        self.paused = false;
        if let Some(active) = self.active.as_ref()
            && let Err(err) = active.set_playing(true)
        {
            self.stats.errors += 1;
            tracing::warn!(%err, "could not resume video");
        }
    }

    fn stop(&mut self) {
        self.tear_down();
        self.codec = None;
        self.paused = false;
        self.need_keyframe = true;
        tracing::info!("video stopped; idle");
    }

    fn stats(&self) -> VideoStats {
        VideoStats {
            frames_decoded: self.decoded.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    fn describe(&self) -> String {
        let decoder = match &self.decoder {
            Some(d) => format!("decoder {} ({})", d.element, d.reason),
            None => "decoder chosen at start".to_owned(),
        };
        format!(
            "gst: {decoder}; sink {} ({}); sync {}",
            self.sink.description,
            self.sink.reason,
            if self.sync { "on" } else { "off" }
        )
    }

    fn running_time(&self) -> Option<Duration> {
        self.active.as_ref()?.running_time()
    }
}

//! One GStreamer decode pipeline: its description, construction, state changes and the
//! appsrc it is fed through.
//!
//! Shape: `appsrc (live, time, stream) ! h26Xparse ! [capssetter] ! decoder ! videoconvert
//! ! videoscale add-borders=true ! <sink end>`. The parser re-sends caps when a new SPS
//! carries another size, so rotation renegotiates down the chain without a rebuild.
//! Owns the elements it names; error policy lives in [`super::bus`], decoder and sink
//! choice in their own modules. Knows nothing of sessions or protocols.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::decoder_choice::DecoderChoice;
use crate::media::{Codec, EncodedFrame, MediaError};

pub const SOURCE_NAME: &str = "airglass_src";
pub const PARSER_NAME: &str = "airglass_parse";
pub const FIX_NAME: &str = "airglass_colorimetry";
pub const DECODER_NAME: &str = "airglass_decoder";
pub const CONVERT_NAME: &str = "airglass_convert";
pub const SCALE_NAME: &str = "airglass_scale";

/// Bytes allowed to wait in the appsrc queue before pushes are dropped (about two
/// seconds of 1080p60 mirroring); past it the decoder is not keeping up or is stuck.
pub const MAX_BACKLOG_BYTES: u64 = 16 * 1024 * 1024;

/// The launch description for `codec` with the chosen decoder and sink end.
pub fn pipeline_description(codec: Codec, decoder: &DecoderChoice, sink_end: &str) -> String {
    let mut d = format!(
        "appsrc name={SOURCE_NAME} ! {} name={PARSER_NAME} ! ",
        codec.parser_factory()
    );
    if let Some(caps) = decoder.caps_fix {
        d.push_str(&format!("capssetter name={FIX_NAME} caps=\"{caps}\" ! "));
    }
    d.push_str(&format!(
        "{} name={DECODER_NAME} ! videoconvert name={CONVERT_NAME} ! \
         videoscale name={SCALE_NAME} add-borders=true ! {sink_end}",
        decoder.element
    ));
    d
}

/// A built pipeline. Dropping it sets it to NULL.
pub struct ActivePipeline {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    bus: gst::Bus,
}

impl ActivePipeline {
    /// Parses and configures the pipeline (state NULL). `decoded` counts pictures leaving
    /// the decoder; `sync == false` turns clock sync off on every sink.
    pub fn build(
        codec: Codec,
        description: &str,
        sync: bool,
        decoded: Arc<AtomicU64>,
    ) -> Result<Self, MediaError> {
        let element = gst::parse::launch(description)
            .map_err(|e| MediaError::Pipeline(format!("{e} in `{description}`")))?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| MediaError::Pipeline("description did not make a pipeline".into()))?;
        let appsrc = pipeline
            .by_name(SOURCE_NAME)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| MediaError::Pipeline("appsrc missing".into()))?;
        let caps = codec
            .byte_stream_caps()
            .parse::<gst::Caps>()
            .map_err(|e| MediaError::Pipeline(e.to_string()))?;
        appsrc.set_caps(Some(&caps));
        appsrc.set_is_live(true);
        appsrc.set_format(gst::Format::Time);
        appsrc.set_stream_type(gst_app::AppStreamType::Stream);
        appsrc.set_block(false);
        appsrc.set_max_bytes(MAX_BACKLOG_BYTES * 2);
        appsrc.set_property("min-latency", 0i64);

        // Pictures out of the decoder: count them where they enter videoconvert, which
        // exists whatever the decoder is (a bin override has no static src pad).
        let convert = pipeline
            .by_name(CONVERT_NAME)
            .ok_or_else(|| MediaError::Pipeline("videoconvert missing".into()))?;
        let convert_sink = convert
            .static_pad("sink")
            .ok_or_else(|| MediaError::Pipeline("videoconvert has no sink pad".into()))?;
        convert_sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            decoded.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });

        if !sync {
            for sink in sink_elements(&pipeline) {
                if sink.find_property("sync").is_some() {
                    sink.set_property("sync", false);
                }
            }
        }
        let bus = pipeline
            .bus()
            .ok_or_else(|| MediaError::Pipeline("pipeline has no bus".into()))?;
        Ok(ActivePipeline {
            pipeline,
            appsrc,
            bus,
        })
    }

    pub fn name(&self) -> String {
        self.pipeline.name().to_string()
    }

    pub fn bus(&self) -> &gst::Bus {
        &self.bus
    }

    /// Moves to PLAYING (or PAUSED).
    pub fn set_playing(&self, playing: bool) -> Result<(), MediaError> {
        let state = if playing {
            gst::State::Playing
        } else {
            gst::State::Paused
        };
        self.pipeline
            .set_state(state)
            .map(|_| ())
            .map_err(|e| MediaError::StateChange {
                state: format!("{state:?}"),
                detail: e.to_string(),
            })
    }

    /// Bytes queued in the appsrc, not yet taken by the parser.
    pub fn backlog_bytes(&self) -> u64 {
        self.appsrc.current_level_bytes()
    }

    /// Hands one access unit to the appsrc (no copy of the payload).
    pub fn push(&self, frame: EncodedFrame) -> Result<(), gst::FlowError> {
        let mut buffer = gst::Buffer::from_mut_slice(frame.data);
        if let Some(buf) = buffer.get_mut() {
            buf.set_pts(frame.pts.map(duration_to_clock));
            if !frame.keyframe {
                buf.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.appsrc.push_buffer(buffer).map(|_| ())
    }

    /// Current running time (clock time minus base time) while PLAYING.
    pub fn running_time(&self) -> Option<Duration> {
        self.pipeline
            .current_running_time()
            .map(|t| Duration::from_nanos(t.nseconds()))
    }

    pub fn by_name(&self, name: &str) -> Option<gst::Element> {
        self.pipeline.by_name(name)
    }

    /// Sets NULL and waits for it (at most one second).
    pub fn shut_down(&self) {
        if let Err(err) = self.pipeline.set_state(gst::State::Null) {
            tracing::warn!(%err, "video pipeline refused NULL");
        }
        let _ = self.pipeline.state(gst::ClockTime::from_seconds(1));
    }
}

impl Drop for ActivePipeline {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn duration_to_clock(d: Duration) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1))
}

fn sink_elements(pipeline: &gst::Pipeline) -> Vec<gst::Element> {
    let mut sinks = Vec::new();
    let mut it = pipeline.iterate_sinks();
    loop {
        match it.next() {
            Ok(Some(element)) => sinks.push(element),
            Ok(None) => break,
            Err(gst::IteratorError::Resync) => {
                sinks.clear();
                it.resync();
            }
            Err(gst::IteratorError::Error) => break,
        }
    }
    sinks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(element: &str, caps_fix: Option<&'static str>) -> DecoderChoice {
        DecoderChoice {
            element: element.to_owned(),
            factory: element.split_whitespace().next().unwrap_or("").to_owned(),
            hardware: false,
            caps_fix,
            reason: String::new(),
        }
    }

    #[test]
    fn description_has_the_chain_in_order() {
        let d = pipeline_description(Codec::H264, &choice("avdec_h264", None), "fakesink");
        assert_eq!(
            d,
            "appsrc name=airglass_src ! h264parse name=airglass_parse ! \
             avdec_h264 name=airglass_decoder ! videoconvert name=airglass_convert ! \
             videoscale name=airglass_scale add-borders=true ! fakesink"
        );
        let h265 = pipeline_description(Codec::H265, &choice("avdec_h265", None), "fakesink");
        assert!(h265.contains("h265parse name=airglass_parse ! avdec_h265"));
    }

    #[test]
    fn v4l2_gets_the_capssetter_between_parser_and_decoder() {
        let d = pipeline_description(
            Codec::H264,
            &choice("v4l2h264dec", Some("video/x-h264,colorimetry=bt709")),
            "kmssink",
        );
        assert!(d.contains(
            "h264parse name=airglass_parse ! capssetter name=airglass_colorimetry \
             caps=\"video/x-h264,colorimetry=bt709\" ! v4l2h264dec name=airglass_decoder"
        ));
    }

    #[test]
    fn duration_maps_to_clock_time_in_nanoseconds() {
        assert_eq!(
            duration_to_clock(Duration::from_millis(1500)).nseconds(),
            1_500_000_000
        );
    }
}

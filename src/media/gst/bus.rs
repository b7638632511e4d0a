//! Reading the pipeline bus: turns GStreamer messages into typed events and decides what
//! an error means for the session.
//!
//! Owns the error policy: a failure inside the stream path (source, parser, colorimetry
//! fix, decoder, converter) is recoverable by rebuilding the pipeline and waiting for the
//! next keyframe; a failure in the sink end (no display, device busy) is not. Must not
//! change pipeline state itself; [`super::GstVideoSink`] acts on what this returns.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::pipeline::{CONVERT_NAME, DECODER_NAME, FIX_NAME, PARSER_NAME, SCALE_NAME, SOURCE_NAME};

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Rebuild the pipeline; the session goes on from the next keyframe.
    Rebuild,
    /// Give up on this pipeline and report the error.
    Fatal,
}

/// Policy by the name of the element that posted the error.
pub fn recovery_for(element_name: &str) -> Recovery {
    match element_name {
        SOURCE_NAME | PARSER_NAME | FIX_NAME | DECODER_NAME | CONVERT_NAME | SCALE_NAME => {
            Recovery::Rebuild
        }
        _ => Recovery::Fatal,
    }
}

/// A bus message that matters to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    Error {
        element: String,
        message: String,
        debug: Option<String>,
        recovery: Recovery,
    },
    EndOfStream,
}

/// Drains every queued message; logs warnings and state changes of the pipeline, returns
/// the errors and end-of-stream in order.
pub fn drain(bus: &gst::Bus, pipeline_name: &str) -> Vec<BusEvent> {
    let mut events = Vec::new();
    while let Some(msg) = bus.pop() {
        let source = msg
            .src()
            .map(|s| s.name().to_string())
            .unwrap_or_else(|| "pipeline".to_owned());
        match msg.view() {
            gst::MessageView::Error(err) => {
                let recovery = recovery_for(&source);
                let details = err.debug().map(|d| d.to_string());
                tracing::warn!(element = %source, error = %err.error(), details = ?details, ?recovery, "video pipeline error");
                events.push(BusEvent::Error {
                    element: source,
                    message: err.error().to_string(),
                    debug: details,
                    recovery,
                });
            }
            gst::MessageView::Warning(w) => {
                tracing::debug!(element = %source, warning = %w.error(), "video pipeline warning");
            }
            gst::MessageView::Eos(_) => events.push(BusEvent::EndOfStream),
            gst::MessageView::StateChanged(change) if source == pipeline_name => {
                tracing::debug!(from = ?change.old(), to = ?change.current(), "video pipeline state");
            }
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_path_errors_are_recoverable_sink_errors_are_not() {
        for name in [
            SOURCE_NAME,
            PARSER_NAME,
            FIX_NAME,
            DECODER_NAME,
            CONVERT_NAME,
            SCALE_NAME,
        ] {
            assert_eq!(recovery_for(name), Recovery::Rebuild, "{name}");
        }
        for name in ["kmssink0", "appsink0", "frames", "pipeline", ""] {
            assert_eq!(recovery_for(name), Recovery::Fatal, "{name}");
        }
    }
}

//! The GStreamer backend and the pure choices behind it.
//!
//! Owns everything GStreamer-specific in `media`: which decoder ([`decoder_choice`]) and
//! which sink ([`sink_choice`]) to use (pure, always compiled), the facts they are fed
//! ([`registry`]), the pipeline ([`pipeline`]), bus policy ([`bus`]) and the
//! [`GstVideoSink`] that ties them together (these need the `gst` feature).

pub mod decoder_choice;
pub mod sink_choice;

#[cfg(feature = "gst")]
pub mod bus;
#[cfg(feature = "gst")]
pub mod pipeline;
#[cfg(feature = "gst")]
pub mod registry;
#[cfg(feature = "gst")]
mod video_sink;

#[cfg(feature = "gst")]
pub use video_sink::GstVideoSink;

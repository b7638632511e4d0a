//! Facts from this machine for the pure choosers: which element factories GStreamer has
//! registered (with ranks), whether a DRM card exists, whether a display server runs.
//!
//! Owns GStreamer initialisation and these reads; decides nothing itself.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::decoder_choice::{DecoderCandidate, FactoryRank, KNOWN_DECODERS, ranked_candidates};
use super::sink_choice::MachineFacts;
use crate::media::{Codec, MediaError};

const SINK_FACTORIES: &[&str] = &["kmssink", "waylandsink", "autovideosink", "fakesink"];

/// Initialises GStreamer once per process (later calls are cheap).
pub fn ensure_init() -> Result<(), MediaError> {
    gst::init().map_err(|e| MediaError::Init(e.to_string()))
}

/// The named factories that are registered, with their ranks.
pub fn factories_present<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<FactoryRank> {
    names
        .into_iter()
        .filter_map(|name| {
            gst::ElementFactory::find(name).map(|f| FactoryRank::new(name, i32::from(f.rank())))
        })
        .collect()
}

/// Ranks of every decoder in [`KNOWN_DECODERS`] that is registered, plus `extra`
/// (a configured override).
pub fn decoder_factories(extra: Option<&str>) -> Vec<FactoryRank> {
    let extra_factory = extra.and_then(|e| e.split_whitespace().next());
    factories_present(
        KNOWN_DECODERS
            .iter()
            .map(|k| k.factory)
            .chain(extra_factory),
    )
}

/// Known decoders for `codec` that are registered, best first; empty if GStreamer fails.
pub fn available_decoders(codec: Codec) -> Vec<DecoderCandidate> {
    if let Err(err) = ensure_init() {
        tracing::warn!(%err, "no GStreamer, so no decoders");
        return Vec::new();
    }
    ranked_candidates(codec, &decoder_factories(None))
}

/// What the sink chooser needs to know about this machine.
pub fn machine_facts() -> MachineFacts {
    MachineFacts {
        drm_card: drm_card_present(Path::new("/dev/dri")),
        wayland_display: env_set("WAYLAND_DISPLAY"),
        x_display: env_set("DISPLAY"),
        sinks: factories_present(SINK_FACTORIES.iter().copied())
            .into_iter()
            .map(|f| f.name)
            .collect(),
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// True when `dir` holds a `card*` node (a KMS-capable GPU; `renderD*` alone is not).
pub fn drm_card_present(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("card"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drm_card_needs_a_card_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!drm_card_present(dir.path()));
        std::fs::write(dir.path().join("renderD128"), b"").expect("touch");
        assert!(!drm_card_present(dir.path()));
        std::fs::write(dir.path().join("card1"), b"").expect("touch");
        assert!(drm_card_present(dir.path()));
        assert!(!drm_card_present(&dir.path().join("missing")));
    }

    #[test]
    fn registry_reports_the_software_decoders_installed_here() {
        ensure_init().expect("gst init");
        // This machine has gstreamer1.0-libav (FIELD-NOTES); the parsers are not decoders.
        let h264 = available_decoders(Codec::H264);
        assert!(h264.iter().any(|c| c.factory == "avdec_h264"), "{h264:?}");
        assert!(h264.iter().all(|c| c.factory != "h264parse"));
        let present = factories_present(["h264parse", "no_such_element_here"]);
        assert_eq!(present.len(), 1);
        assert_eq!(present[0].name, "h264parse");
        assert!(present[0].rank > 0);
    }
}

//! Which sink ends the pipeline: a pure function of machine facts (DRM card, display
//! server, sinks installed) and the configured override → (description, reason).
//!
//! Owns the rule only; gathering the facts (reading `/dev/dri`, the environment, the
//! registry) happens in [`super::registry`]. Touches nothing.
//!
//! Rule: an override is used as given (it replaces everything after `videoscale`, so
//! `fakesink` or `appsink` still parse and decode). Otherwise `kmssink` full screen when a
//! DRM card exists and no display server runs (an appliance on a TV); `waylandsink` /
//! `autovideosink` under a desktop; `fakesink` when there is nowhere to show pictures.

/// What the machine offers for showing video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// A `/dev/dri/card*` node exists.
    pub drm_card: bool,
    /// `WAYLAND_DISPLAY` is set and not empty.
    pub wayland_display: bool,
    /// `DISPLAY` is set and not empty.
    pub x_display: bool,
    /// Sink factories installed, by name.
    pub sinks: Vec<String>,
}

impl MachineFacts {
    fn has(&self, factory: &str) -> bool {
        self.sinks.iter().any(|s| s == factory)
    }
}

/// The kind of output, for logs and for callers that care (a headless box, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Configured,
    Kms,
    Desktop,
    Headless,
}

/// The outcome: the sink end of the pipeline and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkChoice {
    pub description: String,
    pub kind: SinkKind,
    pub reason: String,
}

/// `kmssink` scales in the display hardware keeping the aspect ratio (`can-scale`), centred
/// on the current mode: full screen with black bars, without a CPU scaling pass.
pub const KMS_SINK: &str = "kmssink can-scale=true";

/// Chooses the sink end of the pipeline.
pub fn choose_sink(facts: &MachineFacts, override_description: Option<&str>) -> SinkChoice {
    if let Some(description) = override_description.map(str::trim)
        && !description.is_empty()
    {
        return SinkChoice {
            description: description.to_owned(),
            kind: SinkKind::Configured,
            reason: "configured".to_owned(),
        };
    }
    let display_server = facts.wayland_display || facts.x_display;
    if facts.drm_card && !display_server {
        if facts.has("kmssink") {
            return SinkChoice {
                description: KMS_SINK.to_owned(),
                kind: SinkKind::Kms,
                reason: "DRM card present and no display server: full screen on KMS".to_owned(),
            };
        }
        return headless("DRM card present but kmssink is not installed");
    }
    if facts.wayland_display && facts.has("waylandsink") {
        return SinkChoice {
            description: "waylandsink".to_owned(),
            kind: SinkKind::Desktop,
            reason: "WAYLAND_DISPLAY is set".to_owned(),
        };
    }
    if display_server && facts.has("autovideosink") {
        let which = if facts.wayland_display {
            "WAYLAND_DISPLAY is set but waylandsink is not installed"
        } else {
            "DISPLAY is set"
        };
        return SinkChoice {
            description: "autovideosink".to_owned(),
            kind: SinkKind::Desktop,
            reason: which.to_owned(),
        };
    }
    if display_server {
        return headless("a display server runs but no desktop video sink is installed");
    }
    headless("no DRM card and no display server")
}

fn headless(why: &str) -> SinkChoice {
    SinkChoice {
        description: "fakesink".to_owned(),
        kind: SinkKind::Headless,
        reason: format!("headless ({why}): decoding into fakesink"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(drm: bool, wayland: bool, x: bool, sinks: &[&str]) -> MachineFacts {
        MachineFacts {
            drm_card: drm,
            wayland_display: wayland,
            x_display: x,
            sinks: sinks.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    const ALL: &[&str] = &["kmssink", "waylandsink", "autovideosink", "fakesink"];

    #[test]
    fn tv_appliance_gets_kmssink() {
        let choice = choose_sink(&facts(true, false, false, ALL), None);
        assert_eq!(choice.kind, SinkKind::Kms);
        assert_eq!(choice.description, KMS_SINK);
    }

    #[test]
    fn desktop_sessions_get_a_window() {
        let wayland = choose_sink(&facts(true, true, false, ALL), None);
        assert_eq!(wayland.description, "waylandsink");
        let x11 = choose_sink(&facts(true, false, true, ALL), None);
        assert_eq!(x11.description, "autovideosink");
        let wayland_without_sink = choose_sink(
            &facts(false, true, true, &["autovideosink", "fakesink"]),
            None,
        );
        assert_eq!(wayland_without_sink.description, "autovideosink");
        assert!(
            wayland_without_sink
                .reason
                .contains("waylandsink is not installed")
        );
    }

    #[test]
    fn headless_box_decodes_into_fakesink() {
        let choice = choose_sink(&facts(false, false, false, ALL), None);
        assert_eq!(choice.kind, SinkKind::Headless);
        assert_eq!(choice.description, "fakesink");
        let no_kms = choose_sink(&facts(true, false, false, &["autovideosink"]), None);
        assert_eq!(no_kms.description, "fakesink");
        assert!(no_kms.reason.contains("kmssink is not installed"));
        let no_desktop_sink = choose_sink(&facts(false, false, true, &["kmssink"]), None);
        assert_eq!(no_desktop_sink.kind, SinkKind::Headless);
    }

    #[test]
    fn override_replaces_the_choice_everywhere() {
        for f in [
            facts(true, false, false, ALL),
            facts(false, true, false, ALL),
            facts(false, false, false, &[]),
        ] {
            let choice = choose_sink(&f, Some(" appsink name=frames sync=false "));
            assert_eq!(choice.kind, SinkKind::Configured);
            assert_eq!(choice.description, "appsink name=frames sync=false");
        }
        // An empty override means "choose for me".
        let blank = choose_sink(&facts(true, false, false, ALL), Some("  "));
        assert_eq!(blank.kind, SinkKind::Kms);
    }
}

//! What a client told us about itself, and the quirks it showed: the material of the one
//! "client profile" log line that field reports carry (issue: current Apple clients).

use crate::proto::rtsp::Headers;
use std::fmt;

/// A behaviour worth naming in the client profile line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quirk {
    /// iOS 27: SETUP #1 asked for the `/info` dictionary in its reply.
    CombinedInfoSetup,
    /// iOS 26/27: a TEARDOWN naming no stream ended the session.
    TypelessTeardown,
    /// The client wants a codec we did not advertise (empty codec packet).
    UnadvertisedCodec,
    /// fp-setup with a FairPlay version other than 3.
    FairPlayVersion(u8),
    /// `X-Apple-ET` other than 32.
    UnusualAppleEt(String),
    /// The client never answered our timing requests.
    NoTimingReplies,
    /// SETUP #1 with a timing protocol other than NTP.
    TimingProtocol(String),
    /// A SETUP asked for remote-control-only mode (AirPlay 2), which we do not offer.
    RemoteControlOnly,
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quirk::CombinedInfoSetup => f.write_str("combined-info-setup"),
            Quirk::TypelessTeardown => f.write_str("typeless-teardown"),
            Quirk::UnadvertisedCodec => f.write_str("unadvertised-codec"),
            Quirk::FairPlayVersion(v) => write!(f, "fairplay-v{v}"),
            Quirk::UnusualAppleEt(et) => write!(f, "apple-et={et}"),
            Quirk::NoTimingReplies => f.write_str("no-ntp-replies"),
            Quirk::TimingProtocol(p) => write!(f, "timing={p}"),
            Quirk::RemoteControlOnly => f.write_str("remote-control-only"),
        }
    }
}

/// The client's self-description (headers and SETUP #1 keys) and what it did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientProfile {
    pub user_agent: Option<String>,
    pub model: Option<String>,
    pub name: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub os_build: Option<String>,
    pub source_version: Option<String>,
    pub device_id: Option<String>,
    pub quirks: Vec<Quirk>,
    volume_db: f32,
    video_teardown_seen: bool,
}

impl ClientProfile {
    pub(super) fn observe_headers(&mut self, headers: &Headers) {
        if self.user_agent.is_none()
            && let Some(ua) = headers.get("User-Agent")
        {
            self.user_agent = Some(bounded(ua));
        }
    }

    pub(super) fn observe_setup(&mut self, dict: &plist::Dictionary) {
        let text = |key: &str| dict.get(key).and_then(|v| v.as_string()).map(bounded);
        self.model = text("model").or(self.model.take());
        self.name = text("name").or(self.name.take());
        self.os_name = text("osName").or(self.os_name.take());
        self.os_version = text("osVersion").or(self.os_version.take());
        self.os_build = text("osBuildVersion").or(self.os_build.take());
        self.source_version = text("sourceVersion").or(self.source_version.take());
        self.device_id = text("deviceID").or(self.device_id.take());
    }

    /// Records a quirk once; client-supplied text is shortened and the list is bounded, since
    /// a client can repeat a request with a new header value forever.
    pub fn note(&mut self, quirk: Quirk) {
        let quirk = match quirk {
            Quirk::UnusualAppleEt(et) => Quirk::UnusualAppleEt(bounded_to(&et, MAX_QUIRK_TEXT)),
            Quirk::TimingProtocol(p) => Quirk::TimingProtocol(bounded_to(&p, MAX_QUIRK_TEXT)),
            other => other,
        };
        if self.quirks.len() < MAX_QUIRKS && !self.quirks.contains(&quirk) {
            self.quirks.push(quirk);
        }
    }

    /// The AirPlay version from `User-Agent: AirPlay/980.10.1` or SETUP's sourceVersion.
    pub fn airplay_version(&self) -> Option<&str> {
        self.user_agent
            .as_deref()
            .and_then(|ua| {
                ua.split_whitespace()
                    .find_map(|t| t.strip_prefix("AirPlay/"))
            })
            .or(self.source_version.as_deref())
    }

    /// The major AirPlay version number (e.g. 980 for iOS 27).
    pub fn airplay_major(&self) -> Option<u32> {
        self.airplay_version()?.split('.').next()?.parse().ok()
    }

    /// Clients that pair but expect the unhashed key (PROTOCOL §4.2: AirMyPC).
    pub fn wants_unhashed_key(&self) -> bool {
        self.user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("AirMyPC"))
    }

    pub(super) fn volume_db(&self) -> f32 {
        self.volume_db
    }

    pub(super) fn set_volume_db(&mut self, db: f32) {
        self.volume_db = db;
    }

    pub(super) fn saw_video_teardown(&self) -> bool {
        self.video_teardown_seen
    }

    pub(super) fn mark_video_teardown(&mut self) {
        self.video_teardown_seen = true;
    }

    /// A short label such as `Anna's iPhone (iPhone15,2)`.
    pub fn label(&self) -> String {
        match (&self.name, &self.model) {
            (Some(n), Some(m)) => format!("{n} ({m})"),
            (Some(n), None) => n.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "unknown client".to_owned(),
        }
    }
}

impl fmt::Display for ClientProfile {
    /// The one-line profile: model, OS, AirPlay version and quirks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_owned());
        let quirks = if self.quirks.is_empty() {
            "none".to_owned()
        } else {
            self.quirks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(
            f,
            "model={} os=\"{} {}\" build={} airplay={} quirks={}",
            dash(&self.model),
            dash(&self.os_name),
            dash(&self.os_version),
            dash(&self.os_build),
            self.airplay_version().unwrap_or("-"),
            quirks
        )
    }
}

/// Most quirks remembered per client.
const MAX_QUIRKS: usize = 16;
/// Longest client text kept inside a quirk.
const MAX_QUIRK_TEXT: usize = 24;

/// Client-supplied strings end up in logs: keep them short and printable.
fn bounded(s: &str) -> String {
    bounded_to(s, 96)
}

fn bounded_to(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirks_stay_bounded_whatever_the_client_repeats() {
        let mut p = ClientProfile::default();
        for i in 0..1000 {
            p.note(Quirk::UnusualAppleEt(format!(
                "{i}{}",
                "x".repeat(16 * 1024)
            )));
        }
        assert_eq!(p.quirks.len(), MAX_QUIRKS);
        assert!(p.to_string().len() < 2048);
        p.note(Quirk::TypelessTeardown);
        assert!(
            !p.quirks.contains(&Quirk::TypelessTeardown),
            "the list is full"
        );
    }
}

//! Which decoder element to use: a pure function of (codec, factories present with their
//! ranks, configured override) → (element, reason).
//!
//! Owns the table of decoders we know and the preference rule. Hardware decoders only
//! register when their device node exists, so the input is whatever the registry really
//! holds; nothing here touches GStreamer, files or the environment.
//!
//! Rule: a configured override wins if its factory is present; among known decoders a
//! hardware one beats software, then the higher rank wins, then table order.

use crate::media::Codec;

/// A decoder we know how to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDecoder {
    pub factory: &'static str,
    pub codec: Codec,
    pub hardware: bool,
    pub what: &'static str,
}

const fn known(
    factory: &'static str,
    codec: Codec,
    hardware: bool,
    what: &'static str,
) -> KnownDecoder {
    KnownDecoder {
        factory,
        codec,
        hardware,
        what,
    }
}

/// Decoders in order of preference at equal class and rank.
pub const KNOWN_DECODERS: &[KnownDecoder] = &[
    known(
        "v4l2h264dec",
        Codec::H264,
        true,
        "V4L2 stateful, Raspberry Pi 3/4",
    ),
    known("v4l2slh264dec", Codec::H264, true, "V4L2 stateless"),
    known("vah264dec", Codec::H264, true, "VA-API (va)"),
    known(
        "vaapih264dec",
        Codec::H264,
        true,
        "VA-API (gstreamer-vaapi)",
    ),
    known("nvh264dec", Codec::H264, true, "NVIDIA NVDEC"),
    known("avdec_h264", Codec::H264, false, "libav software"),
    known("openh264dec", Codec::H264, false, "OpenH264 software"),
    known(
        "v4l2slh265dec",
        Codec::H265,
        true,
        "V4L2 stateless, Raspberry Pi 5",
    ),
    known("v4l2h265dec", Codec::H265, true, "V4L2 stateful"),
    known("vah265dec", Codec::H265, true, "VA-API (va)"),
    known(
        "vaapih265dec",
        Codec::H265,
        true,
        "VA-API (gstreamer-vaapi)",
    ),
    known("nvh265dec", Codec::H265, true, "NVIDIA NVDEC"),
    known("avdec_h265", Codec::H265, false, "libav software"),
    known("libde265dec", Codec::H265, false, "libde265 software"),
];

/// Caps forced between parser and `v4l2h264dec`. Apple streams signal a full-range BT.709
/// variant that older V4L2 plugins (GStreamer < 1.20.4) reject and that Raspberry Pi 4
/// users still report needing; UxPlay's `-bt709` option inserts the same `capssetter`.
pub const V4L2_BT709_CAPS: &str = "video/x-h264,colorimetry=bt709";

/// An element factory present in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryRank {
    pub name: String,
    pub rank: i32,
}

impl FactoryRank {
    pub fn new(name: &str, rank: i32) -> Self {
        FactoryRank {
            name: name.to_owned(),
            rank,
        }
    }
}

/// A known decoder that is present, as offered to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderCandidate {
    pub factory: String,
    pub rank: i32,
    pub hardware: bool,
    pub what: &'static str,
}

/// The outcome: what to put in the pipeline and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderChoice {
    /// Element description (a factory name, possibly followed by properties).
    pub element: String,
    /// The factory name alone.
    pub factory: String,
    pub hardware: bool,
    /// Caps to force in front of the decoder (`capssetter`), if any.
    pub caps_fix: Option<&'static str>,
    pub reason: String,
}

/// Why no decoder could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecoderChoiceError {
    #[error("the configured decoder {0:?} is not installed")]
    OverrideMissing(String),
    #[error("the configured decoder is empty")]
    EmptyOverride,
    #[error("none of the known {codec} decoders is installed ({tried})")]
    NoneInstalled { codec: Codec, tried: String },
}

fn known_decoder(factory: &str) -> Option<&'static KnownDecoder> {
    KNOWN_DECODERS.iter().find(|k| k.factory == factory)
}

fn rank_of(available: &[FactoryRank], factory: &str) -> Option<i32> {
    available.iter().find(|f| f.name == factory).map(|f| f.rank)
}

fn caps_fix_for(factory: &str) -> Option<&'static str> {
    (factory == "v4l2h264dec").then_some(V4L2_BT709_CAPS)
}

/// Known decoders for `codec` that are present, best first.
pub fn ranked_candidates(codec: Codec, available: &[FactoryRank]) -> Vec<DecoderCandidate> {
    let mut present: Vec<(usize, DecoderCandidate)> = KNOWN_DECODERS
        .iter()
        .enumerate()
        .filter(|(_, k)| k.codec == codec)
        .filter_map(|(order, k)| {
            rank_of(available, k.factory).map(|rank| {
                let candidate = DecoderCandidate {
                    factory: k.factory.to_owned(),
                    rank,
                    hardware: k.hardware,
                    what: k.what,
                };
                (order, candidate)
            })
        })
        .collect();
    present.sort_by(|(order_a, a), (order_b, b)| {
        b.hardware
            .cmp(&a.hardware)
            .then(b.rank.cmp(&a.rank))
            .then(order_a.cmp(order_b))
    });
    present.into_iter().map(|(_, c)| c).collect()
}

/// Chooses the decoder for `codec`.
///
/// An override naming a known decoder of the *other* codec (say `v4l2h264dec` while an
/// H.265 stream starts) is set aside with a note in the reason, so one `--decoder` flag
/// does not break the other codec.
pub fn choose_decoder(
    codec: Codec,
    available: &[FactoryRank],
    override_element: Option<&str>,
) -> Result<DecoderChoice, DecoderChoiceError> {
    let mut note = String::new();
    if let Some(element) = override_element {
        let element = element.trim();
        let Some(factory) = element.split_whitespace().next() else {
            return Err(DecoderChoiceError::EmptyOverride);
        };
        match known_decoder(factory) {
            Some(k) if k.codec != codec => {
                note = format!("; configured {factory} decodes {} only, set aside", k.codec);
            }
            _ => {
                let Some(rank) = rank_of(available, factory) else {
                    return Err(DecoderChoiceError::OverrideMissing(factory.to_owned()));
                };
                let hardware = known_decoder(factory).is_some_and(|k| k.hardware);
                return Ok(DecoderChoice {
                    element: element.to_owned(),
                    factory: factory.to_owned(),
                    hardware,
                    caps_fix: caps_fix_for(factory),
                    reason: format!("configured (rank {rank})"),
                });
            }
        }
    }

    let ranked = ranked_candidates(codec, available);
    let Some(best) = ranked.first() else {
        let tried = KNOWN_DECODERS
            .iter()
            .filter(|k| k.codec == codec)
            .map(|k| k.factory)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DecoderChoiceError::NoneInstalled { codec, tried });
    };
    let others = ranked[1..]
        .iter()
        .map(|c| format!("{} {}", c.factory, c.rank))
        .collect::<Vec<_>>();
    let class = if best.hardware {
        "hardware"
    } else {
        "software"
    };
    let mut reason = format!("{class}, {}, rank {}", best.what, best.rank);
    if !best.hardware {
        reason.push_str("; no hardware decoder registered");
    }
    if !others.is_empty() {
        reason.push_str(&format!("; also present: {}", others.join(", ")));
    }
    reason.push_str(&note);
    Ok(DecoderChoice {
        element: best.factory.clone(),
        factory: best.factory.clone(),
        hardware: best.hardware,
        caps_fix: caps_fix_for(&best.factory),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: i32 = 256;
    const SECONDARY: i32 = 128;
    const MARGINAL: i32 = 64;

    fn registry(entries: &[(&str, i32)]) -> Vec<FactoryRank> {
        entries
            .iter()
            .map(|(n, r)| FactoryRank::new(n, *r))
            .collect()
    }

    /// What this build machine has: software decoders only.
    fn desktop_without_gpu() -> Vec<FactoryRank> {
        registry(&[
            ("avdec_h264", PRIMARY),
            ("openh264dec", MARGINAL),
            ("avdec_h265", PRIMARY),
            ("libde265dec", SECONDARY),
            ("h264parse", PRIMARY + 1),
        ])
    }

    #[test]
    fn software_only_picks_avdec_for_both_codecs() {
        let reg = desktop_without_gpu();
        let h264 = choose_decoder(Codec::H264, &reg, None).expect("h264");
        assert_eq!(h264.element, "avdec_h264");
        assert!(!h264.hardware);
        assert!(
            h264.reason.contains("no hardware decoder"),
            "{}",
            h264.reason
        );
        assert!(h264.reason.contains("openh264dec 64"), "{}", h264.reason);
        let h265 = choose_decoder(Codec::H265, &reg, None).expect("h265");
        assert_eq!(h265.element, "avdec_h265");
        assert_eq!(h265.caps_fix, None);
    }

    #[test]
    fn raspberry_pi_4_uses_v4l2_with_the_bt709_fix() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("v4l2h264dec", PRIMARY + 1));
        let choice = choose_decoder(Codec::H264, &reg, None).expect("choice");
        assert_eq!(choice.element, "v4l2h264dec");
        assert!(choice.hardware);
        assert_eq!(choice.caps_fix, Some(V4L2_BT709_CAPS));
        // The Pi 4 has no HEVC block that V4L2 exposes here: software for H.265.
        let h265 = choose_decoder(Codec::H265, &reg, None).expect("h265");
        assert_eq!(h265.element, "avdec_h265");
    }

    #[test]
    fn raspberry_pi_5_uses_stateless_hevc_and_software_h264() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("v4l2slh265dec", PRIMARY + 1));
        assert_eq!(
            choose_decoder(Codec::H265, &reg, None)
                .expect("h265")
                .element,
            "v4l2slh265dec"
        );
        assert_eq!(
            choose_decoder(Codec::H264, &reg, None)
                .expect("h264")
                .element,
            "avdec_h264"
        );
    }

    #[test]
    fn hardware_beats_software_even_at_rank_none() {
        // GStreamer 1.22 registers vah264dec at rank NONE; it still beats avdec_h264.
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("vah264dec", 0));
        let choice = choose_decoder(Codec::H264, &reg, None).expect("choice");
        assert_eq!(choice.element, "vah264dec");
        assert_eq!(choice.caps_fix, None);
    }

    #[test]
    fn among_hardware_decoders_rank_decides_then_table_order() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("vah264dec", 0));
        reg.push(FactoryRank::new("vaapih264dec", PRIMARY));
        assert_eq!(
            choose_decoder(Codec::H264, &reg, None).expect("va").element,
            "vaapih264dec"
        );
        let tie = registry(&[
            ("nvh264dec", PRIMARY),
            ("vah264dec", PRIMARY),
            ("avdec_h264", PRIMARY),
        ]);
        assert_eq!(
            choose_decoder(Codec::H264, &tie, None)
                .expect("tie")
                .element,
            "vah264dec"
        );
        let nv_higher = registry(&[("nvh264dec", PRIMARY + 1), ("vah264dec", PRIMARY)]);
        assert_eq!(
            choose_decoder(Codec::H264, &nv_higher, None)
                .expect("nv")
                .element,
            "nvh264dec"
        );
    }

    #[test]
    fn each_known_decoder_alone_is_chosen_for_its_codec_only() {
        for k in KNOWN_DECODERS {
            let reg = registry(&[(k.factory, PRIMARY)]);
            let choice = choose_decoder(k.codec, &reg, None).expect("alone");
            assert_eq!(choice.factory, k.factory);
            assert_eq!(choice.hardware, k.hardware);
            let other = match k.codec {
                Codec::H264 => Codec::H265,
                Codec::H265 => Codec::H264,
            };
            assert!(matches!(
                choose_decoder(other, &reg, None),
                Err(DecoderChoiceError::NoneInstalled { .. })
            ));
        }
    }

    #[test]
    fn empty_registry_names_what_was_tried() {
        let reg = registry(&[("h264parse", PRIMARY + 1)]);
        match choose_decoder(Codec::H265, &reg, None) {
            Err(DecoderChoiceError::NoneInstalled { codec, tried }) => {
                assert_eq!(codec, Codec::H265);
                assert!(tried.contains("avdec_h265") && tried.contains("v4l2slh265dec"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn override_wins_when_present_and_keeps_its_properties() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("v4l2h264dec", PRIMARY + 1));
        let choice = choose_decoder(Codec::H264, &reg, Some(" avdec_h264 max-threads=2 "))
            .expect("override");
        assert_eq!(choice.element, "avdec_h264 max-threads=2");
        assert_eq!(choice.factory, "avdec_h264");
        assert!(choice.reason.starts_with("configured"));
        // An override may name a decoder outside the table, if it is installed.
        let odd = choose_decoder(Codec::H264, &reg, Some("h264parse")).expect("odd");
        assert_eq!(odd.factory, "h264parse");
        assert!(!odd.hardware);
    }

    #[test]
    fn override_that_is_not_installed_is_an_error() {
        let reg = desktop_without_gpu();
        assert_eq!(
            choose_decoder(Codec::H264, &reg, Some("nvh264dec")),
            Err(DecoderChoiceError::OverrideMissing("nvh264dec".into()))
        );
        assert_eq!(
            choose_decoder(Codec::H264, &reg, Some("   ")),
            Err(DecoderChoiceError::EmptyOverride)
        );
    }

    #[test]
    fn override_for_the_other_codec_is_set_aside() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("v4l2h264dec", PRIMARY + 1));
        let choice = choose_decoder(Codec::H265, &reg, Some("v4l2h264dec")).expect("h265");
        assert_eq!(choice.element, "avdec_h265");
        assert!(choice.reason.contains("set aside"), "{}", choice.reason);
    }

    #[test]
    fn candidates_are_sorted_best_first() {
        let mut reg = desktop_without_gpu();
        reg.push(FactoryRank::new("nvh265dec", PRIMARY + 1));
        let names: Vec<String> = ranked_candidates(Codec::H265, &reg)
            .into_iter()
            .map(|c| c.factory)
            .collect();
        assert_eq!(names, ["nvh265dec", "avdec_h265", "libde265dec"]);
    }
}

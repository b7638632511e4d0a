//! The media layer against real GStreamer, without a display: clips are encoded at test
//! time, pushed as Annex-B access units, and the decoded pictures read back from an
//! `appsink` (or counted behind `fakesink`).
#![cfg(feature = "gst")]

#[path = "support/clip.rs"]
mod clip;

use std::time::{Duration, Instant};

use airglass::media::gst::GstVideoSink;
use airglass::media::gst::sink_choice::SinkKind;
use airglass::media::{
    Codec, EncodedFrame, MediaError, VideoSink, VideoSinkConfig, available_decoders,
    build_video_sink, h265_decoder_available,
};
use clip::{Au, Clip, DISTINCT_FRAME, encode_h264, encode_h265, h264_nal_types, luma_mad};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

const APPSINK: &str = "frames";
const FRAME_NS: u64 = 16_666_667;
/// Mean absolute luma error allowed between source and decoded picture (about 0.5 is
/// typical here; neighbouring source frames differ by about 6).
const MAX_MAD: f64 = 1.5;

fn appsink_config() -> VideoSinkConfig {
    VideoSinkConfig {
        backend: "gst".into(),
        decoder: None,
        sink: Some(format!(
            "appsink name={APPSINK} caps=video/x-raw,format=I420 max-buffers=0 drop=false"
        )),
        sync: false,
        dump_path: None,
    }
}

fn frame(au: &Au, index: usize) -> EncodedFrame {
    EncodedFrame {
        data: au.data.clone(),
        pts: Some(Duration::from_nanos(index as u64 * FRAME_NS)),
        keyframe: au.keyframe,
    }
}

/// A decoded picture: size, pts and its luma plane packed without stride padding.
struct Picture {
    width: usize,
    height: usize,
    pts: Option<gst::ClockTime>,
    luma: Vec<u8>,
}

fn pull(appsink: &gst_app::AppSink) -> Picture {
    let sample = appsink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .expect("a decoded picture within 10 s");
    let caps = sample.caps().expect("caps");
    let info = gst_video::VideoInfo::from_caps(caps).expect("video info");
    let buffer = sample.buffer_owned().expect("buffer");
    let pts = buffer.pts();
    let frame = gst_video::VideoFrame::from_buffer_readable(buffer, &info).expect("map frame");
    let (width, height) = (info.width() as usize, info.height() as usize);
    let stride = usize::try_from(frame.plane_stride()[0]).expect("stride");
    let plane = frame.plane_data(0).expect("luma plane");
    let mut luma = Vec::with_capacity(width * height);
    for row in 0..height {
        luma.extend_from_slice(&plane[row * stride..row * stride + width]);
    }
    Picture {
        width,
        height,
        pts,
        luma,
    }
}

fn assert_matches_source(picture: &Picture, clip: &Clip, index: usize) {
    assert_eq!(
        (picture.width, picture.height),
        (clip.width, clip.height),
        "size of picture {index}"
    );
    let mad = luma_mad(
        &clip.luma[index],
        &picture.luma,
        clip.width,
        clip.height,
        clip.width,
    );
    assert!(
        mad < MAX_MAD,
        "picture {index} differs from its source: {mad:.2}"
    );
}

fn wait_for_decoded(sink: &dyn VideoSink, count: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.stats().frames_decoded < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    sink.stats().frames_decoded
}

#[test]
fn h264_clip_decodes_every_frame_with_its_pixels() {
    let clip = encode_h264(320, 240, 64, 32);
    assert!(clip.aus[0].keyframe);
    assert_eq!(
        &h264_nal_types(&clip.aus[0].data)[..2],
        &[7, 8],
        "SPS, PPS first"
    );
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    assert_eq!(sink.sink_choice().kind, SinkKind::Configured);
    sink.start(Codec::H264).expect("start");
    assert_eq!(
        sink.decoder_choice().map(|d| d.factory.as_str()),
        available_decoders(Codec::H264)
            .first()
            .map(|c| c.factory.as_str())
    );
    let describe = sink.describe();
    assert!(
        describe.contains("appsink") && describe.contains("decoder"),
        "{describe}"
    );
    for (index, au) in clip.aus.iter().enumerate() {
        sink.push(frame(au, index)).expect("push");
    }
    let appsink = sink.appsink(APPSINK).expect("appsink hook");
    for index in 0..clip.aus.len() {
        let picture = pull(&appsink);
        assert_eq!(
            picture.pts,
            Some(gst::ClockTime::from_nseconds(index as u64 * FRAME_NS)),
            "pictures arrive in order with their pts"
        );
        assert_matches_source(&picture, &clip, index);
        if index == DISTINCT_FRAME {
            let neighbour = luma_mad(&clip.luma[index - 1], &picture.luma, 320, 240, 320);
            assert!(
                neighbour > 40.0,
                "distinct frame looks like its neighbour: {neighbour}"
            );
        }
    }
    let stats = sink.stats();
    assert_eq!(
        (
            stats.frames_pushed,
            stats.frames_decoded,
            stats.frames_dropped
        ),
        (64, 64, 0)
    );
    assert_eq!((stats.errors, stats.rebuilds), (0, 0));
    sink.stop();
}

#[test]
fn new_sps_with_another_size_renegotiates_mid_stream() {
    let landscape = encode_h264(320, 240, 24, 60);
    let portrait = encode_h264(240, 320, 24, 60);
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    sink.start(Codec::H264).expect("start");
    let all = landscape.aus.iter().chain(portrait.aus.iter());
    for (index, au) in all.enumerate() {
        sink.push(frame(au, index)).expect("push");
    }
    let appsink = sink.appsink(APPSINK).expect("appsink");
    for index in 0..24 {
        assert_matches_source(&pull(&appsink), &landscape, index);
    }
    for index in 0..24 {
        assert_matches_source(&pull(&appsink), &portrait, index);
    }
    assert_eq!(sink.stats().rebuilds, 0, "rotation needs no rebuild");
    assert_eq!(sink.stats().errors, 0);
}

#[test]
fn stop_goes_idle_and_start_decodes_again() {
    let clip = encode_h264(320, 240, 16, 8);
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    for round in 0..2 {
        sink.start(Codec::H264).expect("start");
        assert!(sink.is_running());
        // A stream that begins mid-GOP is held back until its first keyframe.
        sink.push(frame(&clip.aus[3], 0)).expect("push delta");
        for (index, au) in clip.aus.iter().enumerate() {
            sink.push(frame(au, index + 1)).expect("push");
        }
        let appsink = sink.appsink(APPSINK).expect("appsink");
        for index in 0..clip.aus.len() {
            assert_matches_source(&pull(&appsink), &clip, index);
        }
        assert_eq!(sink.stats().frames_dropped, round + 1);
        sink.stop();
        assert!(!sink.is_running());
        assert!(sink.appsink(APPSINK).is_none(), "no pipeline when idle");
        assert!(matches!(
            sink.push(frame(&clip.aus[0], 0)),
            Err(MediaError::NotStarted)
        ));
    }
    // start while started replaces the pipeline.
    sink.start(Codec::H264).expect("start");
    sink.start(Codec::H264).expect("restart");
    sink.push(frame(&clip.aus[0], 0)).expect("push");
    let appsink = sink.appsink(APPSINK).expect("appsink");
    assert_matches_source(&pull(&appsink), &clip, 0);
    assert_eq!(sink.stats().frames_decoded, 33);
}

#[test]
fn decoder_error_rebuilds_and_resumes_at_the_next_keyframe() {
    let clip = encode_h264(320, 240, 64, 16);
    let keyframes: Vec<usize> = (0..64).filter(|&i| clip.aus[i].keyframe).collect();
    assert_eq!(keyframes, [0, 16, 32, 48]);
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    sink.start(Codec::H264).expect("start");
    for index in 0..20 {
        sink.push(frame(&clip.aus[index], index)).expect("push");
    }
    let first = sink.appsink(APPSINK).expect("appsink");
    for index in 0..20 {
        assert_matches_source(&pull(&first), &clip, index);
    }
    // The decoder fails the way GStreamer decoders report it (GST_ELEMENT_ERROR).
    let decoder = sink.element("airglass_decoder").expect("decoder element");
    decoder.post_error_message(gst::error_msg!(
        gst::StreamError::Decode,
        ["injected decoder failure"]
    ));
    for index in 20..64 {
        sink.push(frame(&clip.aus[index], index))
            .expect("the session survives a decoder error");
    }
    let stats = sink.stats();
    assert_eq!(stats.rebuilds, 1);
    assert_eq!(stats.errors, 1);
    assert_eq!(
        stats.frames_dropped, 12,
        "frames 20..32 wait for the keyframe"
    );
    let second = sink.appsink(APPSINK).expect("appsink of the new pipeline");
    for index in 32..64 {
        assert_matches_source(&pull(&second), &clip, index);
    }
    assert_eq!(sink.stats().frames_decoded, 52);
}

#[test]
fn sink_errors_are_fatal_and_typed() {
    let clip = encode_h264(320, 240, 4, 60);
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    sink.start(Codec::H264).expect("start");
    sink.push(frame(&clip.aus[0], 0)).expect("push");
    let appsink = sink.element(APPSINK).expect("appsink");
    appsink.post_error_message(gst::error_msg!(
        gst::ResourceError::OpenWrite,
        ["display went away"]
    ));
    match sink.push(frame(&clip.aus[1], 1)) {
        Err(MediaError::Stream {
            element,
            message,
            debug,
        }) => {
            assert_eq!(element, APPSINK);
            assert!(message.contains("open resource for writing"), "{message}");
            assert!(debug.is_some_and(|d| d.contains("display went away")));
        }
        other => panic!("expected a typed stream error, got {other:?}"),
    }
    assert!(!sink.is_running());
    assert_eq!(sink.stats().rebuilds, 0);
    assert!(matches!(
        sink.push(frame(&clip.aus[2], 2)),
        Err(MediaError::NotStarted)
    ));
}

#[test]
fn pause_drops_and_resume_waits_for_a_keyframe() {
    let clip = encode_h264(320, 240, 24, 12);
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    sink.start(Codec::H264).expect("start");
    for index in 0..4 {
        sink.push(frame(&clip.aus[index], index)).expect("push");
    }
    let appsink = sink.appsink(APPSINK).expect("appsink");
    for index in 0..4 {
        assert_matches_source(&pull(&appsink), &clip, index);
    }
    sink.pause();
    for index in 4..8 {
        sink.push(frame(&clip.aus[index], index))
            .expect("push while paused");
    }
    sink.resume();
    for index in 8..24 {
        sink.push(frame(&clip.aus[index], index)).expect("push");
    }
    for index in 12..24 {
        assert_matches_source(&pull(&appsink), &clip, index);
    }
    let stats = sink.stats();
    assert_eq!(
        stats.frames_dropped, 8,
        "4 while paused, 4 until the keyframe"
    );
    assert_eq!(stats.frames_decoded, 16);
}

#[test]
fn headless_default_decodes_into_fakesink_with_pts_none() {
    let facts = airglass::media::gst::registry::machine_facts();
    let clip = encode_h264(320, 240, 32, 60);
    let cfg = VideoSinkConfig::default();
    let mut sink = GstVideoSink::new(&cfg).expect("gst sink");
    if !facts.drm_card && !facts.wayland_display && !facts.x_display {
        assert_eq!(sink.sink_choice().kind, SinkKind::Headless);
        assert_eq!(sink.sink_choice().description, "fakesink");
    }
    sink.start(Codec::H264).expect("start");
    assert!(sink.running_time().is_some(), "a live pipeline has a clock");
    for au in &clip.aus {
        sink.push(EncodedFrame {
            data: au.data.clone(),
            pts: None,
            keyframe: au.keyframe,
        })
        .expect("push");
    }
    assert_eq!(wait_for_decoded(&sink, 32), 32);
    sink.stop();
}

#[test]
fn capture_backend_writes_exactly_the_pushed_bytes() {
    let clip = encode_h264(320, 240, 16, 8);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stream.h264");
    let cfg = VideoSinkConfig {
        backend: "capture".into(),
        dump_path: Some(path.clone()),
        ..VideoSinkConfig::default()
    };
    let mut sink = build_video_sink(&cfg).expect("capture backend");
    sink.start(Codec::H264).expect("start");
    let mut expected = Vec::new();
    for (index, au) in clip.aus.iter().enumerate() {
        expected.extend_from_slice(&au.data);
        sink.push(frame(au, index)).expect("push");
    }
    sink.stop();
    assert_eq!(std::fs::read(&path).expect("dump"), expected);
    let stats = sink.stats();
    assert_eq!((stats.frames_pushed, stats.frames_decoded), (16, 0));
    assert!(sink.describe().contains("stream.h264"));
}

#[test]
fn dump_path_tees_the_decoding_backend() {
    let clip = encode_h264(320, 240, 16, 8);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tee.h264");
    let cfg = VideoSinkConfig {
        sink: Some("fakesink".into()),
        dump_path: Some(path.clone()),
        ..appsink_config()
    };
    let mut sink = build_video_sink(&cfg).expect("gst with dump");
    sink.start(Codec::H264).expect("start");
    let mut expected = Vec::new();
    for (index, au) in clip.aus.iter().enumerate() {
        expected.extend_from_slice(&au.data);
        sink.push(frame(au, index)).expect("push");
    }
    assert_eq!(
        wait_for_decoded(sink.as_ref(), 16),
        16,
        "the tee still decodes"
    );
    sink.stop();
    assert_eq!(std::fs::read(&path).expect("dump"), expected);
}

#[test]
fn h265_pipeline_decodes_an_x265_clip() {
    assert!(
        h265_decoder_available(),
        "gstreamer1.0-libav provides avdec_h265"
    );
    let mut sink = GstVideoSink::new(&appsink_config()).expect("gst sink");
    sink.start(Codec::H265).expect("start H.265");
    let choice = sink.decoder_choice().expect("decoder").clone();
    assert_eq!(
        Some(choice.factory.as_str()),
        available_decoders(Codec::H265)
            .first()
            .map(|c| c.factory.as_str())
    );
    assert!(sink.describe().contains(&choice.factory));
    let Some(clip) = encode_h265(320, 240, 24, 12) else {
        eprintln!("x265enc not installed: H.265 checked for pipeline construction only");
        return;
    };
    assert!(clip.aus[0].keyframe && clip.aus[12].keyframe);
    for (index, au) in clip.aus.iter().enumerate() {
        sink.push(frame(au, index)).expect("push");
    }
    let appsink = sink.appsink(APPSINK).expect("appsink");
    for index in 0..clip.aus.len() {
        assert_matches_source(&pull(&appsink), &clip, index);
    }
    assert_eq!(sink.stats().frames_decoded, 24);
}

#[test]
fn configured_decoder_that_is_missing_is_a_typed_error() {
    let cfg = VideoSinkConfig {
        decoder: Some("nvh264dec".into()),
        ..appsink_config()
    };
    let mut sink = GstVideoSink::new(&cfg).expect("gst sink");
    if gst::ElementFactory::find("nvh264dec").is_some() {
        return;
    }
    match sink.start(Codec::H264) {
        Err(MediaError::NoDecoder { codec, reason }) => {
            assert_eq!(codec, Codec::H264);
            assert!(reason.contains("nvh264dec"), "{reason}");
        }
        other => panic!("expected NoDecoder, got {other:?}"),
    }
    assert!(!sink.is_running());
}

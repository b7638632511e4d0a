//! The built-in sender's content: the test pattern's pixels and the H.264 encoder's access
//! units, checked through the public API and a real decode with openh264's decoder.

use std::time::Duration;

use airglass::sender::encoder::{NAL_IDR, NAL_PPS, NAL_SLICE, NAL_SPS, nal_unit_type};
use airglass::sender::frame::FrameError;
use airglass::sender::pattern::{BAR_COUNT, BLACK_LUMA, WHITE_LUMA, rgb_to_yuv709};
use airglass::sender::{
    EncodedAccessUnit, EncoderError, H264Encoder, I420Frame, PatternError, Rect, TestPattern, Yuv,
    bar_colour_yuv, split_annexb,
};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

const LABEL: &str = "AIRGLASS TEST \u{2192} Living Room TV";

fn render(pattern: &TestPattern, index: u64, elapsed_ms: u64) -> I420Frame {
    let mut frame = pattern.new_frame();
    pattern
        .render(index, Duration::from_millis(elapsed_ms), &mut frame)
        .unwrap();
    frame
}

/// Luma coordinates of every Y sample that differs between two frames of the same size.
fn changed_luma(a: &I420Frame, b: &I420Frame) -> Vec<(u32, u32)> {
    a.y.iter()
        .zip(&b.y)
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, _)| (i as u32 % a.width, i as u32 / a.width))
        .collect()
}

#[test]
fn same_inputs_give_same_bytes() {
    let first = TestPattern::new(640, 360, LABEL).unwrap();
    let second = TestPattern::new(640, 360, LABEL).unwrap();
    let a = render(&first, 1234, 75_300);
    let b = render(&second, 1234, 75_300);
    assert_eq!(a, b);
    // Rendering over a frame that held another picture leaves no trace of it.
    let mut reused = render(&first, 99, 3_000);
    first
        .render(1234, Duration::from_millis(75_300), &mut reused)
        .unwrap();
    assert_eq!(reused, a);
}

#[test]
fn frame_counter_changes_pixels_in_the_counter_area_only() {
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    let counter = pattern.counter_rect();
    let a = render(&pattern, 41, 10_000);
    let b = render(&pattern, 42, 10_000);
    let changed = changed_luma(&a, &b);
    assert!(
        !changed.is_empty(),
        "frame counter did not change the picture"
    );
    for &(x, y) in &changed {
        assert!(
            counter.contains(x, y),
            "({x},{y}) changed outside {counter:?}"
        );
    }
    assert_eq!((a.u, a.v), (b.u, b.v), "counter must not touch chroma");
}

#[test]
fn elapsed_time_moves_the_box_and_the_clock_only() {
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    let (clock, track) = (pattern.clock_rect(), pattern.sweep_track_rect());
    let a = render(&pattern, 7, 0);
    let b = render(&pattern, 7, 1_300);
    let changed = changed_luma(&a, &b);
    assert!(changed.iter().any(|&(x, y)| clock.contains(x, y)));
    assert!(changed.iter().any(|&(x, y)| track.contains(x, y)));
    for &(x, y) in &changed {
        assert!(
            clock.contains(x, y) || track.contains(x, y),
            "({x},{y}) changed outside clock and track"
        );
    }
    assert_eq!((a.u, a.v), (b.u, b.v));
}

#[test]
fn sweeping_box_is_drawn_where_reported_and_travels_the_width() {
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    let at = |ms| pattern.sweep_box_rect(Duration::from_millis(ms));
    assert_eq!(at(0).x, 0);
    assert!(at(500).x > at(0).x && at(1_000).x > at(500).x);
    assert_eq!(
        at(2_000).x + at(2_000).width,
        320,
        "right edge at half period"
    );
    assert!(at(3_000).x < at(2_000).x, "comes back");
    assert_eq!(at(4_000), at(0));
    for ms in [0, 700, 2_000, 3_300] {
        let frame = render(&pattern, 0, ms);
        assert_eq!(frame.mean_yuv(at(ms)).map(|c| c.y), Some(WHITE_LUMA));
        // Just left of the box (when there is room) is the darker track.
        let r = at(ms);
        if r.x >= 2 {
            let left = Rect {
                x: r.x - 2,
                width: 2,
                ..r
            };
            assert!(frame.mean_yuv(left).unwrap().y < WHITE_LUMA);
        }
    }
}

#[test]
fn bars_hold_their_documented_colours() {
    let pattern = TestPattern::new(1280, 720, LABEL).unwrap();
    let frame = render(&pattern, 0, 0);
    let mut covered = 0;
    for i in 0..BAR_COUNT {
        let bar = pattern.bar_rect(i).unwrap();
        let colour = bar_colour_yuv(i).unwrap();
        covered += bar.width;
        // Every luma and chroma sample in the bar, not just the mean.
        for y in bar.y..bar.y + bar.height {
            let row = (y * frame.width) as usize;
            let span = &frame.y[row + bar.x as usize..row + (bar.x + bar.width) as usize];
            assert!(span.iter().all(|&p| p == colour.y), "bar {i} luma row {y}");
        }
        for y in bar.y / 2..(bar.y + bar.height) / 2 {
            let row = (y * frame.chroma_width()) as usize;
            let range = row + bar.x as usize / 2..row + (bar.x + bar.width) as usize / 2;
            assert!(frame.u[range.clone()].iter().all(|&p| p == colour.u));
            assert!(frame.v[range].iter().all(|&p| p == colour.v));
        }
        let probe = pattern.bar_probe_rect(i).unwrap();
        assert!(probe.width >= 16 && probe.height >= 16);
        assert_eq!(frame.mean_yuv(probe), Some(colour));
    }
    assert_eq!(covered, 1280);
    assert_eq!(pattern.bar_rect(BAR_COUNT), None);
    assert_eq!(bar_colour_yuv(BAR_COUNT), None);
}

#[test]
fn bar_colours_match_published_bt709_75_percent_bars() {
    // SMPTE RP 219 / ITU-R BT.709 75% colour bars, 8-bit limited range (Y, Cb, Cr).
    let published = [
        (180, 128, 128),
        (168, 44, 136),
        (145, 147, 44),
        (134, 63, 52),
        (63, 193, 204),
        (51, 109, 212),
        (28, 212, 120),
    ];
    for (i, &(y, u, v)) in published.iter().enumerate() {
        let got = bar_colour_yuv(i).unwrap();
        for (name, a, b) in [("Y", got.y, y), ("U", got.u, u), ("V", got.v, v)] {
            assert!(a.abs_diff(b) <= 1, "bar {i} {name}: {a} vs published {b}");
        }
    }
    assert_eq!(
        rgb_to_yuv709(0.0, 0.0, 0.0),
        Yuv {
            y: 16,
            u: 128,
            v: 128
        }
    );
    assert_eq!(rgb_to_yuv709(1.0, 1.0, 1.0).y, 235);
}

#[test]
fn label_is_drawn_and_only_it_depends_on_the_label() {
    let tv = TestPattern::new(640, 480, LABEL).unwrap();
    let kitchen = TestPattern::new(640, 480, "AIRGLASS TEST \u{2192} Kitchen").unwrap();
    let a = render(&tv, 3, 3_000);
    let b = render(&kitchen, 3, 3_000);
    let changed = changed_luma(&a, &b);
    assert!(!changed.is_empty());
    let (la, lb) = (tv.label_rect(), kitchen.label_rect());
    for &(x, y) in &changed {
        assert!(
            la.contains(x, y) || lb.contains(x, y),
            "({x},{y}) outside label"
        );
    }
    // Text ink shows up inside the label's row, on the black background.
    assert!(a.mean_yuv(la).unwrap().y > BLACK_LUMA + 8);
}

#[test]
fn rejects_odd_sizes_and_wrong_frames() {
    assert_eq!(
        TestPattern::new(321, 240, LABEL).err(),
        Some(PatternError::Frame(FrameError::OddSize {
            width: 321,
            height: 240
        }))
    );
    assert!(matches!(
        TestPattern::new(320, 241, LABEL),
        Err(PatternError::Frame(FrameError::OddSize { .. }))
    ));
    assert!(matches!(
        TestPattern::new(0, 0, LABEL),
        Err(PatternError::Frame(FrameError::SizeOutOfRange { .. }))
    ));
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    let mut other = I420Frame::new(640, 480).unwrap();
    assert!(matches!(
        pattern.render(0, Duration::ZERO, &mut other),
        Err(PatternError::FrameSizeMismatch { .. })
    ));
    let mut truncated = pattern.new_frame();
    truncated.v.pop();
    assert!(matches!(
        pattern.render(0, Duration::ZERO, &mut truncated),
        Err(PatternError::Frame(FrameError::PlaneLength {
            plane: 'V',
            ..
        }))
    ));
}

fn nal_types(au: &EncodedAccessUnit) -> Vec<u8> {
    split_annexb(&au.annexb)
        .iter()
        .filter_map(|n| nal_unit_type(n))
        .collect()
}

/// Encodes `count` pattern frames; `force` says which indices get a forced IDR.
fn encode_run(
    width: u32,
    height: u32,
    fps: u32,
    count: u64,
    force: &[u64],
) -> Vec<EncodedAccessUnit> {
    let pattern = TestPattern::new(width, height, LABEL).unwrap();
    let mut encoder = H264Encoder::new(width, height, fps, 600_000).unwrap();
    let mut frame = pattern.new_frame();
    (0..count)
        .map(|i| {
            let elapsed = Duration::from_millis(i * 1000 / u64::from(fps));
            pattern.render(i, elapsed, &mut frame).unwrap();
            encoder.encode(&frame, force.contains(&i)).unwrap()
        })
        .collect()
}

#[test]
fn first_access_unit_is_sps_pps_idr_and_the_rest_are_p_slices() {
    let aus = encode_run(320, 240, 30, 30, &[]);
    let first = &aus[0];
    assert!(first.keyframe);
    assert_eq!(nal_types(first), vec![NAL_SPS, NAL_PPS, NAL_IDR]);
    assert_eq!(first.annexb[..4], [0x00, 0x00, 0x00, 0x01]);
    assert_eq!(first.sps.len(), 1);
    assert_eq!(first.pps.len(), 1);
    let sps = &first.sps[0];
    assert_eq!(nal_unit_type(sps), Some(NAL_SPS));
    assert_eq!(sps[1], 66, "profile_idc must be baseline");
    assert_eq!(nal_unit_type(&first.pps[0]), Some(NAL_PPS));
    for (i, au) in aus.iter().enumerate().skip(1) {
        assert!(!au.keyframe, "AU {i} is a keyframe");
        assert_eq!(nal_types(au), vec![NAL_SLICE], "AU {i}: one P slice");
        assert!(au.sps.is_empty() && au.pps.is_empty());
    }
}

#[test]
fn forced_and_periodic_idrs_carry_parameter_sets() {
    // At 5 fps the periodic IDR is every 10 frames; forcing one at 13 restarts the count.
    let aus = encode_run(320, 240, 5, 30, &[13]);
    let keyframes: Vec<usize> = (0..aus.len()).filter(|&i| aus[i].keyframe).collect();
    assert_eq!(keyframes, vec![0, 10, 13, 23]);
    for &i in &keyframes {
        assert_eq!(
            nal_types(&aus[i]),
            vec![NAL_SPS, NAL_PPS, NAL_IDR],
            "AU {i}"
        );
        assert_eq!(aus[i].sps, aus[0].sps);
        assert_eq!(aus[i].pps, aus[0].pps);
    }
}

#[test]
fn encoding_is_deterministic() {
    assert_eq!(
        encode_run(320, 240, 30, 8, &[5]),
        encode_run(320, 240, 30, 8, &[5])
    );
}

/// Decodes AUs in order and returns the last picture as a tightly packed frame.
fn decode_all(aus: &[EncodedAccessUnit]) -> I420Frame {
    let mut decoder = Decoder::new().unwrap();
    let mut last = None;
    for au in aus {
        if let Some(picture) = decoder.decode(&au.annexb).unwrap() {
            last = Some(pack(&picture));
        }
    }
    last.expect("decoder produced no picture")
}

fn pack(picture: &impl YUVSource) -> I420Frame {
    let (w, h) = picture.dimensions();
    let (sy, su, sv) = picture.strides();
    let rows = |plane: &[u8], stride: usize, width: usize, height: usize| -> Vec<u8> {
        (0..height)
            .flat_map(|r| plane[r * stride..r * stride + width].iter().copied())
            .collect()
    };
    I420Frame::from_planes(
        w as u32,
        h as u32,
        rows(picture.y(), sy, w, h),
        rows(picture.u(), su, w / 2, h / 2),
        rows(picture.v(), sv, w / 2, h / 2),
    )
    .unwrap()
}

#[test]
fn decoded_bars_match_the_source_colours() {
    let aus = encode_run(320, 240, 30, 30, &[]);
    let decoded = decode_all(&aus);
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    assert_eq!((decoded.width, decoded.height), (320, 240));
    for i in 0..BAR_COUNT {
        let probe = pattern.bar_probe_rect(i).unwrap();
        let want = bar_colour_yuv(i).unwrap();
        let got = decoded.mean_yuv(probe).unwrap();
        assert!(
            got.y.abs_diff(want.y) <= 4,
            "bar {i}: Y {} vs {}",
            got.y,
            want.y
        );
        assert!(
            got.u.abs_diff(want.u) <= 6,
            "bar {i}: U {} vs {}",
            got.u,
            want.u
        );
        assert!(
            got.v.abs_diff(want.v) <= 6,
            "bar {i}: V {} vs {}",
            got.v,
            want.v
        );
    }
    // The sweeping box of the last frame (29 at 30 fps = 966 ms) is bright in the decode.
    let last_box = pattern.sweep_box_rect(Duration::from_millis(29 * 1000 / 30));
    assert!(decoded.mean_yuv(last_box.inset(2)).unwrap().y > 200);
}

#[test]
fn a_receiver_joining_at_a_periodic_idr_can_decode() {
    let aus = encode_run(320, 240, 5, 14, &[]);
    assert!(aus[10].keyframe);
    let decoded = decode_all(&aus[10..]);
    let pattern = TestPattern::new(320, 240, LABEL).unwrap();
    let probe = pattern.bar_probe_rect(1).unwrap();
    let want = bar_colour_yuv(1).unwrap().y;
    assert!(decoded.mean_yuv(probe).unwrap().y.abs_diff(want) <= 4);
}

#[test]
fn encoder_rejects_frames_it_cannot_take() {
    let mut encoder = H264Encoder::new(320, 240, 30, 500_000).unwrap();
    let wrong = I420Frame::new(640, 480).unwrap();
    assert!(matches!(
        encoder.encode(&wrong, false),
        Err(EncoderError::FrameSizeMismatch { .. })
    ));
    let mut short = I420Frame::new(320, 240).unwrap();
    short.y.truncate(100);
    assert!(matches!(
        encoder.encode(&short, false),
        Err(EncoderError::Frame(FrameError::PlaneLength {
            plane: 'Y',
            ..
        }))
    ));
    let mut odd = I420Frame::new(320, 240).unwrap();
    odd.width = 319;
    assert!(matches!(
        encoder.encode(&odd, false),
        Err(EncoderError::Frame(FrameError::OddSize { .. }))
    ));
    // Nothing was encoded, so the next good frame is still the stream's first IDR.
    let au = encoder
        .encode(&I420Frame::new(320, 240).unwrap(), false)
        .unwrap();
    assert!(au.keyframe);
    assert_eq!(encoder.frames_encoded(), 1);
}

//! Test clips made at test time: a moving I420 pattern encoded to Annex-B access units
//! (H.264 with the `openh264` crate, H.265 with GStreamer's `x265enc` where installed).
//! Shared by `tests/media_gst.rs` and `benches/video_latency.rs` through `#[path]`.
#![allow(dead_code)]

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType,
};
use openh264::formats::YUVBuffer;

/// The frame that looks unlike its neighbours (its luma is inverted).
pub const DISTINCT_FRAME: usize = 37;

/// One encoded access unit.
#[derive(Debug, Clone)]
pub struct Au {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// An encoded clip and the luma planes it was made from.
pub struct Clip {
    pub width: usize,
    pub height: usize,
    pub aus: Vec<Au>,
    pub luma: Vec<Vec<u8>>,
}

/// I420 picture `index` of the pattern: a diagonal ramp sliding right, a bright square
/// moving across, a chroma ramp; frame [`DISTINCT_FRAME`] has its luma inverted.
pub fn pattern_i420(width: usize, height: usize, index: usize) -> Vec<u8> {
    let mut yuv = vec![0u8; width * height * 3 / 2];
    let square = 32.min(width / 4).min(height / 4);
    let sq_x = (index * 6) % (width - square);
    let sq_y = height / 3;
    for y in 0..height {
        for x in 0..width {
            let ramp = ((x + y / 2 + index * 3) % 192) as u8;
            let mut luma = 32 + ramp;
            if (sq_x..sq_x + square).contains(&x) && (sq_y..sq_y + square).contains(&y) {
                luma = 235;
            }
            if index == DISTINCT_FRAME {
                luma = 255 - luma;
            }
            yuv[y * width + x] = luma;
        }
    }
    let (cw, ch) = (width / 2, height / 2);
    let u_start = width * height;
    let v_start = u_start + cw * ch;
    for y in 0..ch {
        for x in 0..cw {
            yuv[u_start + y * cw + x] = (96 + (x * 64 / cw)) as u8;
            yuv[v_start + y * cw + x] = (160 - (y * 64 / ch)) as u8;
        }
    }
    yuv
}

/// Encodes `count` pattern frames to H.264 with an IDR every `idr_period` frames.
pub fn encode_h264(width: usize, height: usize, count: usize, idr_period: u32) -> Clip {
    let bps = (width * height * 24) as u32;
    let config = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Off)
        .bitrate(BitRate::from_bps(bps))
        .max_frame_rate(FrameRate::from_hz(60.0))
        .qp(QpRange::new(8, 26))
        .skip_frames(false)
        .scene_change_detect(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(idr_period));
    let mut encoder =
        Encoder::with_api_config(OpenH264API::from_source(), config).expect("openh264 encoder");
    let mut aus = Vec::with_capacity(count);
    let mut luma = Vec::with_capacity(count);
    for index in 0..count {
        let yuv = pattern_i420(width, height, index);
        luma.push(yuv[..width * height].to_vec());
        let source = YUVBuffer::from_vec(yuv, width, height);
        let bitstream = encoder.encode(&source).expect("encode");
        let keyframe = matches!(bitstream.frame_type(), FrameType::IDR);
        let data = bitstream.to_vec();
        assert!(!data.is_empty(), "openh264 skipped frame {index}");
        aus.push(Au { data, keyframe });
    }
    Clip {
        width,
        height,
        aus,
        luma,
    }
}

/// NAL unit types (H.264) of an Annex-B access unit, in order.
pub fn h264_nal_types(au: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            types.push(au[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// Mean absolute difference of two luma planes; `decoded` rows are `stride` apart.
pub fn luma_mad(source: &[u8], decoded: &[u8], width: usize, height: usize, stride: usize) -> f64 {
    let mut sum = 0u64;
    for y in 0..height {
        for x in 0..width {
            let a = i64::from(source[y * width + x]);
            let b = i64::from(decoded[y * stride + x]);
            sum += a.abs_diff(b);
        }
    }
    sum as f64 / (width * height) as f64
}

/// Encodes `count` pattern frames to H.265 with GStreamer's `x265enc` (IDR every
/// `idr_period` frames, parameter sets repeated in front of each); `None` when the
/// encoder is not installed.
pub fn encode_h265(width: usize, height: usize, count: usize, idr_period: u32) -> Option<Clip> {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;

    gst::init().expect("gst init");
    gst::ElementFactory::find("x265enc")?;
    let description = format!(
        "appsrc name=raw caps=video/x-raw,format=I420,width={width},height={height},framerate=60/1 \
         format=time ! x265enc tune=zerolatency speed-preset=ultrafast qp=18 \
         key-int-max={idr_period} option-string=repeat-headers=1 ! \
         video/x-h265,stream-format=byte-stream,alignment=au ! appsink name=hevc sync=false"
    );
    let pipeline = gst::parse::launch(&description)
        .expect("x265 pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let raw = pipeline
        .by_name("raw")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .expect("appsrc");
    let hevc = pipeline
        .by_name("hevc")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let mut luma = Vec::with_capacity(count);
    for index in 0..count {
        let yuv = pattern_i420(width, height, index);
        luma.push(yuv[..width * height].to_vec());
        let mut buffer = gst::Buffer::from_mut_slice(yuv);
        buffer
            .get_mut()
            .expect("fresh buffer")
            .set_pts(gst::ClockTime::from_nseconds(index as u64 * 16_666_667));
        raw.push_buffer(buffer).expect("push raw");
    }
    raw.end_of_stream().expect("eos");
    let mut aus = Vec::with_capacity(count);
    while let Some(sample) = hevc.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let buffer = sample.buffer().expect("buffer");
        let map = buffer.map_readable().expect("map");
        aus.push(Au {
            data: map.as_slice().to_vec(),
            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        });
        if aus.len() == count {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).expect("null");
    assert_eq!(aus.len(), count, "x265enc gave fewer access units");
    Some(Clip {
        width,
        height,
        aus,
        luma,
    })
}

//! The mirror receiver end to end: records built by `MirrorWriter` (from real openh264 output)
//! go through `MirrorStream` and come out as Annex-B the real decoder accepts; plus the
//! known-answer AES-CTR vectors.

mod common;

use airglass::proto::mirror::header::TYPE_VIDEO;
use airglass::proto::mirror::{
    HEADER_LEN, MirrorError, MirrorEvent, MirrorHeader, MirrorStream, MirrorWriter, PictureSizes,
    ReportError, StreamReport, VideoCodec, VideoFrame, annexb_to_avcc, build_avcc_record,
    build_hvcc_record,
};
use openh264::decoder::Decoder;
use openh264::encoder::Encoder;
use openh264::formats::{YUVBuffer, YUVSource};

const KEY: [u8; 16] = [0x41; 16];
const IV: [u8; 16] = [0x17; 16];
const SECOND: u64 = 1 << 32;

/// Splits length-prefixed NALs (tests only: the input is our own well-formed AVCC).
fn nals(avcc: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < avcc.len() {
        let len = u32::from_be_bytes(avcc[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(avcc[pos + 4..pos + 4 + len].to_vec());
        pos += 4 + len;
    }
    out
}

fn to_avcc(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

fn to_annexb(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// Real H.264 from openh264: the codec record (from the first IDR's SPS/PPS) and every access
/// unit as AVCC without parameter sets, the way iOS splits them.
struct Encoded {
    record: Vec<u8>,
    parameter_sets: Vec<Vec<u8>>,
    access_units: Vec<Vec<u8>>,
}

fn encode_h264(width: usize, height: usize, frames: usize) -> Encoded {
    let mut encoder = Encoder::new().unwrap();
    let mut parameter_sets = Vec::new();
    let mut access_units = Vec::new();
    for i in 0..frames {
        let mut yuv = vec![0u8; width * height * 3 / 2];
        for (j, px) in yuv.iter_mut().enumerate() {
            *px = ((j % width) as u8)
                .wrapping_add((j / width) as u8)
                .wrapping_add(i as u8 * 9);
        }
        let buffer = YUVBuffer::from_vec(yuv, width, height);
        let annexb = encoder.encode(&buffer).unwrap().to_vec();
        let (ps, slices): (Vec<_>, Vec<_>) = nals(&annexb_to_avcc(&annexb))
            .into_iter()
            .partition(|n| matches!(n[0] & 0x1f, 7 | 8));
        if parameter_sets.is_empty() {
            parameter_sets = ps;
        }
        access_units.push(to_avcc(&slices));
    }
    let sps: Vec<&[u8]> = parameter_sets
        .iter()
        .filter(|n| n[0] & 0x1f == 7)
        .map(|n| &n[..])
        .collect();
    let pps: Vec<&[u8]> = parameter_sets
        .iter()
        .filter(|n| n[0] & 0x1f == 8)
        .map(|n| &n[..])
        .collect();
    let record = build_avcc_record(&sps, &pps).unwrap();
    Encoded {
        record,
        parameter_sets,
        access_units,
    }
}

/// Sends one record through the stream the way the net shell does: header bytes decoded first.
fn feed(
    stream: &mut MirrorStream,
    record: ([u8; HEADER_LEN], Vec<u8>),
) -> Result<MirrorEvent, MirrorError> {
    let header = MirrorHeader::decode(&record.0).unwrap();
    stream.handle(&header, record.1)
}

fn frame(event: Result<MirrorEvent, MirrorError>) -> VideoFrame {
    match event {
        Ok(MirrorEvent::Frame(f)) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn report_with_trailer(trailer: usize) -> (Vec<u8>, usize) {
    let mut stats = plist::Dictionary::new();
    stats.insert("latencyMs".into(), plist::Value::Integer(12.into()));
    let mut dict = plist::Dictionary::new();
    dict.insert("txUsageAvg".into(), plist::Value::Real(0.25));
    dict.insert("fps".into(), plist::Value::Integer(30.into()));
    dict.insert("name".into(), plist::Value::String("mirror".into()));
    dict.insert("stats".into(), plist::Value::Dictionary(stats));
    let mut bytes = Vec::new();
    plist::Value::Dictionary(dict)
        .to_writer_binary(&mut bytes)
        .unwrap();
    let plist_len = bytes.len();
    bytes.extend((0..trailer).map(|i| (i * 13 % 256) as u8));
    (bytes, plist_len)
}

fn decoded_size(decoder: &mut Decoder, annexb: &[u8]) -> Option<(usize, usize)> {
    decoder.decode(annexb).unwrap().map(|yuv| yuv.dimensions())
}

#[test]
fn h264_stream_survives_the_trip_and_decodes() {
    let first = encode_h264(320, 240, 6);
    let rotated = encode_h264(240, 320, 2);
    let mut writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H264);
    let mut stream = MirrorStream::new(&KEY, &IV, false);
    let mut decoder = Decoder::new().unwrap();
    let mut decoded = Vec::new();

    // A frame before any codec packet passes through, never prepended.
    let early = frame(feed(
        &mut stream,
        writer
            .video_record(first.access_units[1].clone(), 5)
            .unwrap(),
    ));
    assert_eq!(early.data, to_annexb(&nals(&first.access_units[1])));
    assert!(!early.keyframe);

    let config_record = writer
        .codec_record(
            first.record.clone(),
            10 * SECOND,
            false,
            PictureSizes::square(320, 240),
        )
        .unwrap();
    let config = match feed(&mut stream, config_record) {
        Ok(MirrorEvent::Config(c)) => c,
        other => panic!("expected config, got {other:?}"),
    };
    assert_eq!(
        (config.codec, config.width, config.height),
        (VideoCodec::H264, 320, 240)
    );
    assert_eq!(config.annexb, to_annexb(&first.parameter_sets));

    // Clear records between config and IDR must not disturb the keystream.
    assert_eq!(
        feed(&mut stream, (writer.heartbeat_record(), Vec::new())),
        Ok(MirrorEvent::Heartbeat)
    );
    let (report, plist_len) = report_with_trailer(25_000);
    match feed(&mut stream, writer.report_record(report).unwrap()) {
        Ok(MirrorEvent::Report(r)) => {
            assert_eq!(r.number("txUsageAvg"), Some(0.25));
            assert_eq!(r.number("fps"), Some(30.0));
            assert_eq!(r.number("stats.latencyMs"), Some(12.0));
            assert_eq!(r.numbers.len(), 3);
            assert_eq!((r.plist_len, r.trailer_len), (plist_len, 25_000));
        }
        other => panic!("expected report, got {other:?}"),
    }
    let mut odd = writer.heartbeat_record();
    odd[4] = 0x07;
    assert_eq!(
        feed(&mut stream, (odd, Vec::new())),
        Ok(MirrorEvent::Ignored { packet_type: 7 })
    );

    for (i, au) in first.access_units.iter().enumerate() {
        let (header, payload) = writer
            .video_record(au.clone(), 10 * SECOND + i as u64)
            .unwrap();
        assert_ne!(payload, *au, "payload is encrypted");
        assert_eq!(
            header[5],
            if i == 0 { 0x10 } else { 0x00 },
            "keyframe hint flag"
        );
        let f = frame(feed(&mut stream, (header, payload)));
        assert_eq!(f.keyframe, i == 0);
        assert_eq!(f.timestamp, 10 * SECOND + i as u64);
        let body = to_annexb(&nals(au));
        if i == 0 {
            assert_eq!(
                f.data,
                [config.annexb.clone(), body].concat(),
                "SPS/PPS prepended to the IDR"
            );
        } else {
            assert_eq!(f.data, body);
        }
        decoded.extend(decoded_size(&mut decoder, &f.data));
    }

    // Rotation: a new codec packet with new sizes, then an IDR with a later timestamp.
    let rotate = writer
        .codec_record(
            rotated.record.clone(),
            20 * SECOND,
            false,
            PictureSizes::square(240, 320),
        )
        .unwrap();
    let config = match feed(&mut stream, rotate) {
        Ok(MirrorEvent::Config(c)) => c,
        other => panic!("expected config, got {other:?}"),
    };
    assert_eq!((config.width, config.height), (240, 320));
    for (i, au) in rotated.access_units.iter().enumerate() {
        let f = frame(feed(
            &mut stream,
            writer
                .video_record(au.clone(), 21 * SECOND + i as u64)
                .unwrap(),
        ));
        assert_eq!(f.data.starts_with(&config.annexb), i == 0);
        decoded.extend(decoded_size(&mut decoder, &f.data));
    }
    decoded.extend(
        decoder
            .flush_remaining()
            .unwrap()
            .iter()
            .map(|y| y.dimensions()),
    );
    assert_eq!(decoded.len(), 8, "every access unit decodes: {decoded:?}");
    assert!(decoded[..6].iter().all(|&d| d == (320, 240)));
    assert!(decoded[6..].iter().all(|&d| d == (240, 320)));
}

#[test]
fn pause_and_resume_follow_the_option_codes() {
    let enc = encode_h264(64, 64, 2);
    let writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H264);
    let mut stream = MirrorStream::new(&KEY, &IV, false);
    let sizes = PictureSizes::square(64, 64);
    let codec = |pausing| {
        writer
            .codec_record(enc.record.clone(), 3, pausing, sizes)
            .unwrap()
    };
    let events: Vec<_> = [false, true, true, false, false]
        .into_iter()
        .map(|pausing| feed(&mut stream, codec(pausing)).unwrap())
        .collect();
    let kinds: Vec<(&str, bool)> = events
        .iter()
        .map(|e| match e {
            MirrorEvent::Config(c) => ("config", c.paused),
            MirrorEvent::Paused(c) => ("paused", c.paused),
            MirrorEvent::Resumed(c) => ("resumed", c.paused),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("config", false),
            ("paused", true),
            ("config", true),
            ("resumed", false),
            ("config", false)
        ]
    );
    assert!(!stream.is_paused());
}

#[test]
fn parameter_sets_wait_for_the_next_keyframe_whatever_its_timestamp() {
    let enc = encode_h264(64, 64, 3);
    let mut writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H264);
    let mut stream = MirrorStream::new(&KEY, &IV, false);
    let sizes = PictureSizes::square(64, 64);
    let Ok(MirrorEvent::Config(config)) = feed(
        &mut stream,
        writer
            .codec_record(enc.record.clone(), 100, false, sizes)
            .unwrap(),
    ) else {
        panic!("expected config");
    };
    let p = frame(feed(
        &mut stream,
        writer
            .video_record(enc.access_units[1].clone(), 200)
            .unwrap(),
    ));
    assert!(!p.keyframe && !p.data.starts_with(&config.annexb));
    let idr = frame(feed(
        &mut stream,
        writer
            .video_record(enc.access_units[0].clone(), 300)
            .unwrap(),
    ));
    assert!(idr.keyframe && idr.data.starts_with(&config.annexb));
    let again = frame(feed(
        &mut stream,
        writer
            .video_record(enc.access_units[0].clone(), 400)
            .unwrap(),
    ));
    assert!(
        again.keyframe && !again.data.starts_with(&config.annexb),
        "prepended once only"
    );
}

#[test]
fn h265_records_prepend_vps_sps_pps_to_irap_frames() {
    let (vps, sps, pps) = (
        vec![0x40, 0x01, 0x0c],
        vec![0x42, 0x01, 0x01, 0x60],
        vec![0x44, 0x01, 0xc1],
    );
    let mut writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H265);
    let mut stream = MirrorStream::new(&KEY, &IV, true);
    let record = build_hvcc_record(&vps, &sps, &pps).unwrap();
    let (header, payload) = writer
        .codec_record(record, 1, false, PictureSizes::square(3840, 2160))
        .unwrap();
    assert_eq!(&header[6..8], &[0x1e, 0x01]);
    let Ok(MirrorEvent::Config(config)) = feed(&mut stream, (header, payload)) else {
        panic!("expected config");
    };
    assert_eq!(config.codec, VideoCodec::H265);
    assert_eq!(
        config.nal_units,
        vec![vps.clone(), sps.clone(), pps.clone()]
    );
    let irap = vec![
        vec![0x26, 0x01, 0xaf, 0x10, 0x22],
        vec![0x26, 0x01, 0x13, 0x37],
    ];
    let f = frame(feed(
        &mut stream,
        writer.video_record(to_avcc(&irap), 2).unwrap(),
    ));
    assert!(f.keyframe);
    assert_eq!(f.codec, VideoCodec::H265);
    assert_eq!(
        f.data,
        [to_annexb(&[vps, sps, pps]), to_annexb(&irap)].concat()
    );
    let trail = vec![vec![0x02, 0x01, 0xd0, 0x44]];
    let f = frame(feed(
        &mut stream,
        writer.video_record(to_avcc(&trail), 3).unwrap(),
    ));
    assert!(!f.keyframe);
    assert_eq!(f.data, to_annexb(&trail));
}

#[test]
fn empty_codec_record_means_an_unadvertised_codec() {
    for advertised in [false, true] {
        let mut stream = MirrorStream::new(&KEY, &IV, advertised);
        let header = MirrorHeader::codec(0, 1, VideoCodec::H264, false, PictureSizes::default());
        assert_eq!(
            stream.handle(&header, Vec::new()),
            Ok(MirrorEvent::UnadvertisedCodec {
                h265_advertised: advertised
            })
        );
    }
}

#[test]
fn stream_errors_end_the_stream() {
    let enc = encode_h264(64, 64, 1);
    let sizes = PictureSizes::square(64, 64);

    // Wrong key: the decrypted framing is garbage.
    let mut writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H264);
    let mut stream = MirrorStream::new(&[0x42; 16], &IV, false);
    assert!(matches!(
        feed(
            &mut stream,
            writer
                .codec_record(enc.record.clone(), 1, false, sizes)
                .unwrap()
        ),
        Ok(MirrorEvent::Config(_))
    ));
    let err = feed(
        &mut stream,
        writer.video_record(enc.access_units[0].clone(), 1).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            MirrorError::NalOverrun { .. }
                | MirrorError::ForbiddenZeroBit { .. }
                | MirrorError::EmptyNal { .. }
                | MirrorError::TruncatedLengthPrefix { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("wrong video key"));

    // Codec switch mid-stream.
    let mut stream = MirrorStream::new(&KEY, &IV, true);
    let h264 = MirrorHeader::codec(enc.record.len() as u32, 1, VideoCodec::H264, false, sizes);
    assert!(stream.handle(&h264, enc.record.clone()).is_ok());
    let hevc = build_hvcc_record(&[0x40, 1], &[0x42, 1], &[0x44, 1]).unwrap();
    let h265 = MirrorHeader::codec(hevc.len() as u32, 2, VideoCodec::H265, false, sizes);
    assert_eq!(
        stream.handle(&h265, hevc),
        Err(MirrorError::CodecChanged {
            from: VideoCodec::H264,
            to: VideoCodec::H265
        })
    );

    // Payload not matching the header; a broken codec record.
    let header = MirrorHeader::video(10, 0);
    assert_eq!(
        stream.handle(&header, vec![0; 9]),
        Err(MirrorError::PayloadLengthMismatch {
            expected: 10,
            actual: 9
        })
    );
    let bad = vec![0x01, 0x64, 0x00];
    let header = MirrorHeader::codec(3, 0, VideoCodec::H264, false, sizes);
    assert!(matches!(
        stream.handle(&header, bad),
        Err(MirrorError::CodecRecord(_))
    ));
    // An empty video record is skipped, not an error.
    let header = MirrorHeader::video(0, 0);
    assert_eq!(
        stream.handle(&header, Vec::new()),
        Ok(MirrorEvent::Ignored {
            packet_type: TYPE_VIDEO
        })
    );
}

#[test]
fn unreadable_reports_are_not_fatal() {
    let mut stream = MirrorStream::new(&KEY, &IV, false);
    let header = MirrorHeader::report(9);
    assert!(matches!(
        stream.handle(&header, b"bplist00x".to_vec()),
        Ok(MirrorEvent::ReportUnreadable(ReportError::NotAPlist(_)))
    ));
    assert_eq!(StreamReport::parse(&[]), Err(ReportError::Empty));
    let mut array = Vec::new();
    plist::Value::Array(vec![plist::Value::Integer(1.into())])
        .to_writer_binary(&mut array)
        .unwrap();
    assert_eq!(
        StreamReport::parse(&array),
        Err(ReportError::NotADictionary)
    );
    let (plain, len) = report_with_trailer(0);
    let r = StreamReport::parse(&plain).unwrap();
    assert_eq!((r.plist_len, r.trailer_len), (len, 0));
}

// ---------- known-answer vectors ----------

/// kdf_ctr: the ciphertext packets decrypt through the stream's path to the expected plaintext,
/// with clear records between them not advancing the keystream; the writer reproduces the
/// ciphertext from the plaintext.
#[test]
fn kdf_ctr_vectors_decrypt_through_the_stream() {
    for entry in common::section("kdf_ctr") {
        let key = common::hex_array::<16>(&entry, "video_key");
        let iv = common::hex_array::<16>(&entry, "video_iv");
        let ciphertexts = common::hex_list(&entry, "ciphertext_packets");
        let expected = common::hex_list(&entry, "expected_decrypted_packets");
        assert_eq!(ciphertexts.len(), expected.len());
        let mut stream = MirrorStream::new(&key, &iv, false);
        let mut writer = MirrorWriter::new(&key, &iv, VideoCodec::H264);
        for (ct, plain) in ciphertexts.iter().zip(&expected) {
            assert_eq!(
                stream.handle(&MirrorHeader::heartbeat(), Vec::new()),
                Ok(MirrorEvent::Heartbeat)
            );
            let (report, _) = report_with_trailer(10);
            let header = MirrorHeader::report(report.len() as u32);
            assert!(matches!(
                stream.handle(&header, report),
                Ok(MirrorEvent::Report(_))
            ));
            let mut buf = ct.clone();
            stream.decrypt_video_in_place(&mut buf);
            assert_eq!(&buf, plain);
            let (header, sent) = writer.video_record(plain.clone(), 0).unwrap();
            assert_eq!(&sent, ct);
            assert_eq!(
                MirrorHeader::decode(&header).unwrap().payload_size as usize,
                ct.len()
            );
        }
    }
}

/// ctr_edge_cases: we chose plain continuous CTR (what a sender does), not UxPlay's quirk of
/// dropping leftover keystream after a very short packet.
#[test]
fn ctr_edge_case_follows_the_continuous_sender() {
    for entry in common::section("ctr_edge_cases") {
        let key = common::hex_array::<16>(&entry, "video_key");
        let iv = common::hex_array::<16>(&entry, "video_iv");
        let sender = common::hex_list(&entry, "sender_plaintext_packets");
        let uxplay = common::hex_list(&entry, "expected_decrypted_packets");
        let mut stream = MirrorStream::new(&key, &iv, false);
        let ours: Vec<Vec<u8>> = common::hex_list(&entry, "ciphertext_packets")
            .into_iter()
            .map(|mut p| {
                stream.decrypt_video_in_place(&mut p);
                p
            })
            .collect();
        assert_eq!(ours, sender);
        assert_ne!(ours, uxplay, "the vector exercises the quirk");
    }
}

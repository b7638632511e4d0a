//! Mirror stream codecs: the 128-byte header, avcC / hvc1 codec records, and AVCC ⇄ Annex-B
//! reframing, against hand-made byte strings (PROTOCOL.md §5.1–§5.3), and property tests that
//! hostile input never panics.

use airglass::proto::mirror::annexb::nal_type;
use airglass::proto::mirror::codec_config::{parse_avcc, parse_codec_record, parse_hvcc};
use airglass::proto::mirror::header::{OPTION_H264, OPTION_H265_PAUSING};
use airglass::proto::mirror::{
    CodecConfig, CodecRecordError, HEADER_LEN, MAX_PAYLOAD, MirrorError, MirrorHeader,
    MirrorStream, PacketType, PictureSizes, StreamReport, VideoCodec, annexb_to_avcc,
    avcc_to_annexb_in_place, build_avcc_record, build_hvcc_record,
};
use proptest::prelude::*;

fn sample_nal(first: u8, len: usize) -> Vec<u8> {
    let mut nal = vec![first];
    nal.extend((1..len).map(|i| (i * 7 % 251) as u8 | 1));
    nal
}

// ---------- header ----------

#[test]
fn header_fields_sit_at_their_protocol_offsets() {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[0..4].copy_from_slice(&0x0001_2345u32.to_le_bytes());
    bytes[4] = 0x01;
    bytes[5] = 0x00;
    bytes[6] = 0x16;
    bytes[7] = 0x01;
    bytes[8..16].copy_from_slice(&0x0000_1234_8000_0000u64.to_le_bytes());
    bytes[16..20].copy_from_slice(&864.0f32.to_le_bytes());
    bytes[20..24].copy_from_slice(&1872.0f32.to_le_bytes());
    bytes[40..44].copy_from_slice(&864.0f32.to_le_bytes());
    bytes[44..48].copy_from_slice(&1872.0f32.to_le_bytes());
    bytes[56..60].copy_from_slice(&1080.0f32.to_le_bytes());
    bytes[60..64].copy_from_slice(&1920.0f32.to_le_bytes());
    let h = MirrorHeader::decode(&bytes).unwrap();
    assert_eq!(h.payload_size, 0x12345);
    assert_eq!(h.packet_type, PacketType::CodecConfig);
    assert_eq!(h.option, OPTION_H264);
    assert_eq!(h.timestamp >> 32, 0x1234);
    assert_eq!(h.timestamp & 0xffff_ffff, 0x8000_0000);
    let s = h.sizes.unwrap();
    assert_eq!(
        (
            s.source_width,
            s.source_height,
            s.output_width,
            s.output_height
        ),
        (864.0, 1872.0, 1080.0, 1920.0)
    );
    assert_eq!(h.encode(), bytes, "re-encoding reproduces the wire bytes");
}

#[test]
fn header_round_trips_for_every_constructor() {
    let sizes = PictureSizes {
        source_width: 1440.0,
        source_height: 1080.0,
        output_width: 1920.0,
        output_height: 1440.0,
    };
    for h in [
        MirrorHeader::video(100_000, 0x0102_0304_0506_0708),
        MirrorHeader::codec(40, 77, VideoCodec::H265, true, sizes),
        MirrorHeader::codec(40, 77, VideoCodec::H264, false, sizes),
        MirrorHeader::heartbeat(),
        MirrorHeader::report(25_300),
        MirrorHeader {
            packet_type: PacketType::Other(0x07),
            flags: 0x10,
            ..MirrorHeader::video(3, 9)
        },
    ] {
        assert_eq!(MirrorHeader::decode(&h.encode()).unwrap(), h);
    }
    let h = MirrorHeader::codec(1, 2, VideoCodec::H265, true, sizes);
    assert_eq!(h.option, OPTION_H265_PAUSING);
    assert_eq!(&h.encode()[6..8], &[0x5e, 0x01]);
    assert!(h.is_pausing());
}

#[test]
fn header_size_fields_are_zero_outside_codec_packets() {
    let mut bytes = MirrorHeader::video(8, 1).encode();
    bytes[56..60].copy_from_slice(&1920.0f32.to_le_bytes());
    assert_eq!(MirrorHeader::decode(&bytes).unwrap().sizes, None);
}

#[test]
fn rejects_payload_size_above_the_limit() {
    let mut bytes = MirrorHeader::video(MAX_PAYLOAD, 0).encode();
    assert!(MirrorHeader::decode(&bytes).is_ok());
    bytes[0..4].copy_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
    assert!(matches!(
        MirrorHeader::decode(&bytes),
        Err(MirrorError::PayloadTooLarge { size, .. }) if size == u64::from(MAX_PAYLOAD) + 1
    ));
}

// ---------- avcC ----------

/// PROTOCOL.md §5.3 example: `01 64 c0 28 ff e1 00 10 <16-byte SPS> 01 00 04 <4-byte PPS>`.
#[test]
fn parses_the_spec_example_avcc() {
    let sps = hex::decode("6764c028ac2b402802dd80880000030008").unwrap()[..16].to_vec();
    let pps = hex::decode("68ee3c80").unwrap();
    let mut record = hex::decode("0164c028ffe10010").unwrap();
    record.extend_from_slice(&sps);
    record.extend_from_slice(&[0x01, 0x00, 0x04]);
    record.extend_from_slice(&pps);
    assert_eq!(record.len(), 8 + 16 + 3 + 4);

    let (codec, nals) = parse_codec_record(&record).unwrap();
    assert_eq!(codec, VideoCodec::H264);
    assert_eq!(nals, vec![sps.clone(), pps.clone()]);

    let header = MirrorHeader::codec(
        record.len() as u32,
        5,
        VideoCodec::H264,
        false,
        PictureSizes::square(1080, 1920),
    );
    let config = CodecConfig::from_packet(&header, &record).unwrap();
    let mut expected = vec![0, 0, 0, 1];
    expected.extend_from_slice(&sps);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(&pps);
    assert_eq!(config.annexb, expected);
    assert_eq!((config.width, config.height), (1080, 1920));
    assert!(!config.paused);
}

#[test]
fn parses_avcc_with_two_sps_and_long_nals() {
    let sps_a = sample_nal(0x67, 300);
    let sps_b = sample_nal(0x67, 20);
    let pps_a = sample_nal(0x68, 256);
    let pps_b = sample_nal(0x68, 5);
    let mut record = vec![0x01, 0x64, 0x00, 0x33, 0xff, 0xe2];
    for nal in [&sps_a, &sps_b] {
        record.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        record.extend_from_slice(nal);
    }
    record.push(2);
    for nal in [&pps_a, &pps_b] {
        record.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        record.extend_from_slice(nal);
    }
    record.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0x00]); // High-profile extension is allowed
    assert_eq!(
        parse_avcc(&record).unwrap(),
        vec![sps_a, sps_b, pps_a, pps_b]
    );
}

#[test]
fn rejects_bad_avcc_fields() {
    let good = build_avcc_record(&[&sample_nal(0x67, 10)], &[&sample_nal(0x68, 4)]).unwrap();
    let mut bad_version = good.clone();
    bad_version[0] = 0x02;
    assert_eq!(
        parse_avcc(&bad_version),
        Err(CodecRecordError::UnsupportedVersion(2))
    );
    let mut two_byte_lengths = good.clone();
    two_byte_lengths[4] = 0xfd;
    assert_eq!(
        parse_avcc(&two_byte_lengths),
        Err(CodecRecordError::UnsupportedLengthSize(2))
    );
    let mut no_sps = good.clone();
    no_sps[5] = 0xe0;
    assert_eq!(
        parse_avcc(&no_sps),
        Err(CodecRecordError::MissingParameterSet("SPS"))
    );
    let mut empty_pps = vec![
        0x01, 0x64, 0, 0x28, 0xff, 0xe1, 0x00, 0x01, 0x67, 0x01, 0x00, 0x00,
    ];
    assert_eq!(
        parse_avcc(&empty_pps),
        Err(CodecRecordError::EmptyNal { what: "PPS" })
    );
    empty_pps[8] = 0xe7;
    assert!(matches!(
        parse_avcc(&empty_pps),
        Err(CodecRecordError::ForbiddenZeroBit { .. })
    ));
}

#[test]
fn truncated_avcc_is_an_error_at_every_length() {
    let record = build_avcc_record(
        &[&sample_nal(0x67, 270), &sample_nal(0x67, 9)],
        &[&sample_nal(0x68, 4)],
    )
    .unwrap();
    assert!(parse_avcc(&record).is_ok());
    for len in 0..record.len() {
        assert!(
            parse_codec_record(&record[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn built_avcc_matches_the_wire_layout() {
    let sps = sample_nal(0x67, 16);
    let pps = sample_nal(0x68, 4);
    let record = build_avcc_record(&[&sps], &[&pps]).unwrap();
    assert_eq!(
        &record[..8],
        &[0x01, sps[1], sps[2], sps[3], 0xff, 0xe1, 0x00, 0x10]
    );
    assert_eq!(&record[24..27], &[0x01, 0x00, 0x04]);
    assert_eq!(record.len(), 31);
}

// ---------- hvc1 / hvcC ----------

/// Builds an hvc1 sample entry by hand (not with the crate's builder): the 86-byte
/// VisualSampleEntry part, an unrelated `colr` child box, then `hvcC` with an SEI array too.
fn hand_made_hvc1(vps: &[u8], sps: &[u8], pps: &[u8], with_colr: bool) -> Vec<u8> {
    let mut hvcc = vec![0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d];
    hvcc.extend_from_slice(&[0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f]);
    assert_eq!(hvcc.len(), 22);
    hvcc.push(4);
    let sei = sample_nal(0x4e, 6);
    for (kind, nal) in [(0xa0u8, vps), (0xa1, sps), (0xa2, pps), (0x27, &sei[..])] {
        hvcc.push(kind);
        hvcc.extend_from_slice(&[0x00, 0x01]);
        hvcc.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        hvcc.extend_from_slice(nal);
    }
    let mut children = Vec::new();
    if with_colr {
        children.extend_from_slice(&19u32.to_be_bytes());
        children.extend_from_slice(b"colr");
        children.extend_from_slice(b"nclx\x00\x01\x00\x01\x00\x01\x00");
    }
    children.extend_from_slice(&((hvcc.len() + 8) as u32).to_be_bytes());
    children.extend_from_slice(b"hvcC");
    children.extend_from_slice(&hvcc);
    let mut entry = Vec::new();
    entry.extend_from_slice(&((86 + children.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"hvc1");
    entry.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    entry.extend_from_slice(&[0u8; 70]);
    assert_eq!(entry.len(), 86);
    entry.extend_from_slice(&children);
    entry
}

#[test]
fn parses_hvc1_with_wire_sized_parameter_sets_at_offset_0x75() {
    let (vps, sps, pps) = (
        sample_nal(0x40, 0x18),
        sample_nal(0x42, 0x32),
        sample_nal(0x44, 7),
    );
    let payload = hand_made_hvc1(&vps, &sps, &pps, false);
    assert_eq!(
        &payload[0x75..0x79],
        &[0xa0, 0x00, 0x01, 0x00],
        "UxPlay's fixed offset"
    );
    let (codec, nals) = parse_codec_record(&payload).unwrap();
    assert_eq!(codec, VideoCodec::H265);
    assert_eq!(&nals[..3], &[vps, sps, pps]);
    assert_eq!(
        nal_type(VideoCodec::H265, nals[3][0]),
        39,
        "the SEI array is kept"
    );
}

#[test]
fn parses_hvc1_by_structure_with_long_nals_and_extra_boxes() {
    let (vps, sps, pps) = (
        sample_nal(0x40, 24),
        sample_nal(0x42, 300),
        sample_nal(0x44, 256),
    );
    let payload = hand_made_hvc1(&vps, &sps, &pps, true);
    let (_, nals) = parse_codec_record(&payload).unwrap();
    assert_eq!(&nals[..3], &[vps.clone(), sps.clone(), pps.clone()]);

    // A broken box walk (bad colr size) still finds the hvcC by its four-character code.
    let mut broken = payload.clone();
    broken[86..90].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        &parse_codec_record(&broken).unwrap().1[..3],
        &[vps, sps, pps]
    );
}

#[test]
fn built_hvc1_has_the_wire_shape() {
    let (vps, sps, pps) = (
        sample_nal(0x40, 0x18),
        sample_nal(0x42, 0x32),
        sample_nal(0x44, 7),
    );
    let payload = build_hvcc_record(&vps, &sps, &pps).unwrap();
    assert_eq!(&payload[4..8], b"hvc1");
    assert_eq!(
        u32::from_be_bytes(payload[0..4].try_into().unwrap()) as usize,
        payload.len()
    );
    assert_eq!(&payload[0x75..0x79], &[0xa0, 0x00, 0x01, 0x00]);
    assert_eq!(&payload[0x78..0x7a], &[0x00, 0x18]);
    assert_eq!(&payload[90..94], b"hvcC");
    assert_eq!(
        &sps[3..15],
        &payload[95..107],
        "profile_tier_level copied from the SPS"
    );
    assert_eq!(parse_codec_record(&payload).unwrap().1, vec![vps, sps, pps]);
}

#[test]
fn rejects_hvcc_without_a_pps_or_with_two_byte_lengths() {
    let payload = build_hvcc_record(&sample_nal(0x40, 5), &sample_nal(0x42, 5), &[0x44]).unwrap();
    let hvcc_start = 94;
    let mut no_pps = payload[hvcc_start..].to_vec();
    no_pps[22] = 2; // drop the last (PPS) array
    assert_eq!(
        parse_hvcc(&no_pps),
        Err(CodecRecordError::MissingParameterSet("PPS"))
    );
    let mut short_lengths = payload[hvcc_start..].to_vec();
    short_lengths[21] = 0x0d;
    assert_eq!(
        parse_hvcc(&short_lengths),
        Err(CodecRecordError::UnsupportedLengthSize(2))
    );
    let mut no_box = payload.clone();
    no_box[90..94].copy_from_slice(b"xxxx");
    assert_eq!(
        parse_codec_record(&no_box),
        Err(CodecRecordError::NoHvccBox)
    );
}

#[test]
fn truncated_hvc1_is_an_error_at_every_length() {
    let payload = hand_made_hvc1(
        &sample_nal(0x40, 24),
        &sample_nal(0x42, 260),
        &sample_nal(0x44, 7),
        true,
    );
    assert!(parse_codec_record(&payload).is_ok());
    for len in 0..payload.len() {
        assert!(
            parse_codec_record(&payload[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
}

// ---------- AVCC ⇄ Annex-B ----------

fn avcc(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

#[test]
fn reframes_in_place_and_reports_keyframes() {
    let sei = sample_nal(0x06, 12);
    let idr = sample_nal(0x65, 70_000);
    let mut buf = avcc(&[&sei, &idr]);
    let ptr = buf.as_ptr();
    let info = avcc_to_annexb_in_place(&mut buf, VideoCodec::H264).unwrap();
    assert_eq!((info.nal_count, info.keyframe), (2, true));
    assert_eq!(buf.as_ptr(), ptr);
    let mut expected = vec![0, 0, 0, 1];
    expected.extend_from_slice(&sei);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(&idr);
    assert_eq!(buf, expected);

    let mut p = avcc(&[&sample_nal(0x41, 900)]);
    let info = avcc_to_annexb_in_place(&mut p, VideoCodec::H264).unwrap();
    assert_eq!((info.nal_count, info.keyframe), (1, false));

    // H.265: 0x26 = IDR_W_RADL (19), 0x2a = CRA (21), 0x02 = TRAIL_R, 0x4e = prefix SEI.
    for (first, keyframe) in [(0x26u8, true), (0x2a, true), (0x02, false), (0x4e, false)] {
        let mut h = avcc(&[&sample_nal(first, 40)]);
        let info = avcc_to_annexb_in_place(&mut h, VideoCodec::H265).unwrap();
        assert_eq!(info.keyframe, keyframe, "H.265 header byte {first:#04x}");
    }
    let mut empty: [u8; 0] = [];
    assert_eq!(
        avcc_to_annexb_in_place(&mut empty, VideoCodec::H264)
            .unwrap()
            .nal_count,
        0
    );
}

#[test]
fn reframing_rejects_each_kind_of_bad_framing_and_leaves_the_buffer_alone() {
    let good = avcc(&[&sample_nal(0x41, 10), &sample_nal(0x41, 10)]);
    let cases: Vec<(Vec<u8>, MirrorError)> = vec![
        (
            {
                let mut b = good.clone();
                b[14..18].copy_from_slice(&11u32.to_be_bytes());
                b
            },
            MirrorError::NalOverrun {
                offset: 14,
                len: 11,
                remaining: 10,
            },
        ),
        (
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0, 0]);
                b
            },
            MirrorError::TruncatedLengthPrefix {
                offset: 28,
                remaining: 2,
            },
        ),
        (
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0, 0, 0, 0]);
                b
            },
            MirrorError::EmptyNal { offset: 28 },
        ),
        (
            {
                let mut b = good.clone();
                b[18] = 0xc1;
                b
            },
            MirrorError::ForbiddenZeroBit { offset: 18 },
        ),
        (
            {
                let mut b = good.clone();
                b[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
                b
            },
            MirrorError::NalOverrun {
                offset: 0,
                len: u32::MAX,
                remaining: 24,
            },
        ),
    ];
    for (bad, expected) in cases {
        let mut buf = bad.clone();
        assert_eq!(
            avcc_to_annexb_in_place(&mut buf, VideoCodec::H264),
            Err(expected)
        );
        assert_eq!(buf, bad, "buffer untouched on error");
    }
}

#[test]
fn annexb_to_avcc_splits_on_three_and_four_byte_start_codes() {
    let (a, b, c) = (
        sample_nal(0x67, 9),
        sample_nal(0x68, 4),
        sample_nal(0x65, 300),
    );
    let mut stream = vec![0xaa]; // junk before the first start code is dropped
    stream.extend_from_slice(&[0, 0, 0, 1]);
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&[0, 0, 1]);
    stream.extend_from_slice(&b);
    stream.extend_from_slice(&[0, 0, 0, 0, 1]); // trailing_zero_8bits + 4-byte start code
    stream.extend_from_slice(&c);
    stream.extend_from_slice(&[0, 0, 1, 0, 0, 1]); // an empty NAL is dropped
    assert_eq!(annexb_to_avcc(&stream), avcc(&[&a, &b, &c]));
    assert!(annexb_to_avcc(&[0x65, 1, 2]).is_empty());

    let mut back = annexb_to_avcc(&stream);
    avcc_to_annexb_in_place(&mut back, VideoCodec::H264).unwrap();
    assert_eq!(annexb_to_avcc(&back), avcc(&[&a, &b, &c]));
}

// ---------- hostile input ----------

const KEY: [u8; 16] = [0x41; 16];
const IV: [u8; 16] = [0x17; 16];

fn record_strategy() -> impl Strategy<Value = (u8, u8, u16, u64, Vec<u8>)> {
    (
        prop_oneof![Just(0u8), Just(1), Just(2), Just(5), any::<u8>()],
        any::<u8>(),
        prop_oneof![
            Just(0x0116u16),
            Just(0x0156),
            Just(0x011e),
            Just(0x015e),
            any::<u16>()
        ],
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
}

proptest! {
    #[test]
    fn arbitrary_header_bytes_never_panic(bytes in proptest::array::uniform32(any::<u8>()), rest in proptest::collection::vec(any::<u8>(), 96)) {
        let mut header = [0u8; HEADER_LEN];
        header[..32].copy_from_slice(&bytes);
        header[32..].copy_from_slice(&rest);
        if let Ok(h) = MirrorHeader::decode(&header) {
            prop_assert!(h.payload_size <= MAX_PAYLOAD);
            let again = MirrorHeader::decode(&h.encode()).unwrap();
            prop_assert_eq!(again.encode(), h.encode());
        }
    }

    #[test]
    fn arbitrary_records_never_panic(records in proptest::collection::vec(record_strategy(), 1..8), h265 in any::<bool>()) {
        let mut stream = MirrorStream::new(&KEY, &IV, h265);
        for (kind, flags, option, timestamp, mut payload) in records {
            if kind == 1 && payload.len() > 8 && option & 0x08 != 0 {
                payload[4..8].copy_from_slice(b"hvc1");
            }
            let mut bytes = MirrorHeader::video(payload.len() as u32, timestamp).encode();
            bytes[4] = kind;
            bytes[5] = flags;
            bytes[6..8].copy_from_slice(&option.to_le_bytes());
            let header = MirrorHeader::decode(&bytes).unwrap();
            let _ = stream.handle(&header, payload);
        }
    }

    #[test]
    fn arbitrary_codec_and_report_payloads_never_panic(mut payload in proptest::collection::vec(any::<u8>(), 0..400), tag in 0u8..3) {
        match tag {
            0 if payload.len() >= 8 => payload[4..8].copy_from_slice(b"hvc1"),
            1 if payload.len() >= 8 => payload[..8].copy_from_slice(b"bplist00"),
            _ => {}
        }
        let header = MirrorHeader::codec(payload.len() as u32, 0, VideoCodec::H264, false, PictureSizes::default());
        let _ = CodecConfig::from_packet(&header, &payload);
        let _ = StreamReport::parse(&payload);
    }

    #[test]
    fn reframing_round_trips_any_well_formed_access_unit(
        units in proptest::collection::vec(proptest::collection::vec(1u8..=255, 1..300), 1..6)
    ) {
        let units: Vec<Vec<u8>> = units.into_iter().map(|mut n| { n[0] &= 0x7f; n[0] |= 1; n }).collect();
        let avcc = avcc(&units.iter().map(|n| &n[..]).collect::<Vec<_>>());
        let mut buf = avcc.clone();
        let info = avcc_to_annexb_in_place(&mut buf, VideoCodec::H264).unwrap();
        prop_assert_eq!(info.nal_count, units.len());
        prop_assert_eq!(&buf, &units.iter().flat_map(|n| [&[0u8, 0, 0, 1][..], &n[..]].concat()).collect::<Vec<u8>>());
        prop_assert_eq!(annexb_to_avcc(&buf), avcc);
    }
}

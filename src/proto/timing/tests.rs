//! Timing codec and clock estimator, checked against hand-computed values.

use super::*;
use proptest::prelude::*;

/// `seconds + numerator / 2^32` as a 32.32 timestamp, for readable hand-computed samples.
fn at(seconds: u32, fraction: u32) -> NtpTimestamp {
    NtpTimestamp::from_parts(seconds, fraction)
}

/// 1/16 s, 1/8 s, 1/4 s, 1/2 s as 32-bit fractions.
const SIXTEENTH: u32 = 0x1000_0000;
const EIGHTH: u32 = 0x2000_0000;
const QUARTER: u32 = 0x4000_0000;
const HALF: u32 = 0x8000_0000;

#[test]
fn unix_time_gains_the_1900_offset() {
    let epoch = NtpTimestamp::from_unix_time(Duration::ZERO);
    assert_eq!(epoch.seconds(), 2_208_988_800);
    assert_eq!(epoch.fraction(), 0);
    // 2024-06-01T00:00:00.5Z
    let t = NtpTimestamp::from_unix_time(Duration::new(1_717_200_000, 500_000_000));
    assert_eq!(t.seconds(), 3_926_188_800);
    assert_eq!(t.fraction(), HALF);
    // 2036-02-07T06:28:16Z starts NTP era 1: seconds wrap to zero.
    let era1 = NtpTimestamp::from_unix_time(Duration::from_secs(2_085_978_496));
    assert_eq!(era1, NtpTimestamp(0));
}

#[test]
fn durations_convert_both_ways() {
    let d = Duration::new(34_965, 250_000_000);
    let t = NtpTimestamp::from_duration(d);
    assert_eq!((t.seconds(), t.fraction()), (34_965, QUARTER));
    assert_eq!(t.to_duration(), d);
    let max = NtpTimestamp(u64::MAX).to_duration();
    assert_eq!(max.as_secs(), u64::from(u32::MAX));
    assert_eq!(max.subsec_nanos(), 999_999_999);
}

#[test]
fn mirror_timestamps_move_to_the_timing_clock() {
    // PROTOCOL.md §6.4: 34965 s of uptime reads 83 ab 07 15 in a timing reply.
    let raw = (u64::from(34_965u32) << 32) | 0x1234;
    let client = mirror_to_client_ntp(raw);
    assert_eq!(client.seconds(), 0x83AB_0715);
    assert_eq!(client.fraction(), 0x1234);
    // Wraps instead of overflowing.
    assert_eq!(mirror_to_client_ntp(u64::MAX).seconds(), 0x83AA_7E7F);
}

#[test]
fn request_encodes_to_the_documented_bytes() {
    let request = TimingRequest {
        reference: NtpTimestamp(0x0102_0304_0506_0708),
        receive: NtpTimestamp(0x1112_1314_1516_1718),
        transmit: NtpTimestamp(0x2122_2324_2526_2728),
    };
    let bytes = request.to_bytes();
    let expected = hex::decode(concat!(
        "80d2000700000000",
        "0102030405060708",
        "1112131415161718",
        "2122232425262728"
    ))
    .expect("hex");
    assert_eq!(bytes, expected);
    assert_eq!(TimingRequest::decode(&bytes), Ok(request));
}

#[test]
fn reply_round_trips_and_echoes_the_transmit_time() {
    let request = TimingRequest::first(at(3_926_188_800, HALF));
    assert_eq!(request.reference, NtpTimestamp(0));
    let reply = request.reply(at(2_209_023_765, 7), at(2_209_023_765, 9));
    assert_eq!(reply.origin, request.transmit);
    let bytes = reply.to_bytes();
    assert_eq!(bytes.len(), TIMING_PACKET_LEN);
    assert_eq!(bytes[..8], [0x80, 0xD3, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(bytes[8..16], request.transmit.0.to_be_bytes());
    assert_eq!(TimingReply::decode(&bytes), Ok(reply));

    let next = TimingRequest::following(&reply, at(3_926_188_801, 0), at(3_926_188_803, 0));
    assert_eq!(next.reference, reply.transmit);
    assert_eq!(next.receive, at(3_926_188_801, 0));
}

#[test]
fn rejects_bad_timing_packets() {
    let good = TimingReply::default().to_bytes();
    assert_eq!(
        TimingReply::decode(&good[..31]),
        Err(TimingError::WrongLength(31))
    );
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        TimingReply::decode(&long),
        Err(TimingError::WrongLength(33))
    );
    assert_eq!(TimingReply::decode(&[]), Err(TimingError::WrongLength(0)));
    assert_eq!(
        TimingRequest::decode(&good),
        Err(TimingError::WrongType {
            expected: 0xD2,
            got: 0xD3
        })
    );
    let mut old_version = good.clone();
    old_version[0] = 0x40;
    assert_eq!(
        TimingReply::decode(&old_version),
        Err(TimingError::BadVersion(0x40))
    );
    // The marker bit is optional; the payload type is not.
    let mut unmarked = good.clone();
    unmarked[1] = 0x53;
    assert!(TimingReply::decode(&unmarked).is_ok());
    unmarked[1] = 0x54;
    assert!(matches!(
        TimingReply::decode(&unmarked),
        Err(TimingError::WrongType { got: 0x54, .. })
    ));
}

#[test]
fn sample_arithmetic_matches_hand_computation() {
    // t1 - t0 = 1000.25 s, t2 - t3 = 999.5 s: offset 999.875 s.
    // (t3 - t0) - (t2 - t1) = 1 s - 0.25 s: delay 0.75 s.
    let sample =
        ClockSample::from_times(at(100, 0), at(1_100, QUARTER), at(1_100, HALF), at(101, 0))
            .expect("sample");
    assert_eq!(sample.offset_nanos(), 999_875_000_000);
    assert_eq!(sample.delay(), Duration::from_millis(750));

    // The client clock behind ours: ((-100) + (-100.0625)) / 2 = -100.03125 s.
    let behind =
        ClockSample::from_times(at(200, 0), at(100, 0), at(100, SIXTEENTH), at(200, EIGHTH))
            .expect("sample");
    assert_eq!(behind.offset_nanos(), -100_031_250_000);
    assert_eq!(behind.delay(), Duration::from_micros(62_500));
}

#[test]
fn estimator_uses_the_lowest_delay_sample() {
    let mut sync = ClockSync::new();
    assert!(sync.is_empty());
    assert_eq!(sync.offset(), None);
    assert_eq!(sync.client_to_local(at(1, 0)), None);

    // Delay 0.75 s, offset 999.875 s.
    sync.add_sample(at(100, 0), at(1_100, QUARTER), at(1_100, HALF), at(101, 0))
        .expect("a");
    // Delay 0.25 - 0.0625 = 0.1875 s, offset (1000.0625 + 999.875) / 2 = 999.96875 s.
    sync.add_sample(
        at(200, 0),
        at(1_200, SIXTEENTH),
        at(1_200, EIGHTH),
        at(200, QUARTER),
    )
    .expect("b");
    // Delay 2 s: ignored while a better one is held.
    sync.add_sample(at(300, 0), at(1_300, 0), at(1_300, 0), at(302, 0))
        .expect("c");
    assert_eq!(sync.len(), 3);
    assert_eq!(sync.offset(), Some(999_968_750_000));
    assert_eq!(sync.delay(), Some(Duration::from_micros(187_500)));
    // 1300 s client time is 1300 - 999.96875 = 300.03125 s local.
    assert_eq!(
        sync.client_to_local(at(1_300, 0)),
        Some(at(300, EIGHTH / 4))
    );
    assert_eq!(
        sync.local_to_client(at(300, EIGHTH / 4)),
        Some(at(1_300, 0))
    );
}

#[test]
fn estimator_forgets_all_but_the_last_eight() {
    let mut sync = ClockSync::new();
    // Zero delay, offset +5 s.
    sync.add_sample(at(10, 0), at(15, 0), at(15, 0), at(10, 0))
        .expect("best");
    for i in 0..CLOCK_SAMPLES as u32 {
        // Delay 1 s, offset (7.5 + 6.5) / 2 = +7 s.
        sync.add_sample(
            at(20 + i, 0),
            at(27 + i, HALF),
            at(27 + i, HALF),
            at(21 + i, 0),
        )
        .expect("later");
        if i + 1 < CLOCK_SAMPLES as u32 {
            assert_eq!(sync.offset(), Some(5_000_000_000), "after {i}");
        }
    }
    assert_eq!(sync.len(), CLOCK_SAMPLES);
    assert_eq!(sync.offset(), Some(7_000_000_000));
    assert_eq!(sync.delay(), Some(Duration::from_secs(1)));
}

#[test]
fn equal_delays_prefer_the_newest_sample() {
    let mut sync = ClockSync::new();
    sync.add_sample(at(10, 0), at(15, 0), at(15, 0), at(11, 0))
        .expect("old");
    sync.add_sample(at(20, 0), at(27, 0), at(27, 0), at(21, 0))
        .expect("new");
    assert_eq!(sync.offset(), Some(6_500_000_000));
}

#[test]
fn rejects_negative_delay_samples() {
    let mut sync = ClockSync::new();
    // The client claims 2 s between receive and transmit inside a 1 s round trip.
    let err = sync.add_sample(at(100, 0), at(500, 0), at(502, 0), at(101, 0));
    assert_eq!(err, Err(TimingError::ImplausibleSample));
    // Our own clock running backwards.
    let err = sync.add_sample(at(100, 0), at(500, 0), at(500, 0), at(99, 0));
    assert_eq!(err, Err(TimingError::ImplausibleSample));
    assert!(sync.is_empty());
}

#[test]
fn offsets_beyond_half_an_era_still_map_exactly() {
    // Local: a monotonic clock at 5 s. Client: iOS uptime 3 s, reported with +2208988800 s,
    // so client - local exceeds 2^31 s and only makes sense modulo 2^64.
    let mut sync = ClockSync::new();
    let uptime = |s: u32, f: u32| mirror_to_client_ntp(at(s, f).0);
    sync.add_sample(
        at(5, 0),
        uptime(3, QUARTER),
        uptime(3, QUARTER),
        at(5, HALF),
    )
    .expect("sample");
    // Offset = 2208988800 s + ((3.25 - 5) + (3.25 - 5.5)) / 2 = 2208988800 s - 2 s.
    let frame = at(10, 0).0;
    assert_eq!(
        sync.client_to_local(mirror_to_client_ntp(frame)),
        Some(at(12, 0))
    );

    // Times straddling the end of the 64-bit range behave the same.
    let mut sync = ClockSync::new();
    let t0 = NtpTimestamp(u64::MAX - u64::from(QUARTER) + 1);
    let t3 = NtpTimestamp(u64::from(QUARTER));
    sync.add_sample(t0, at(1_000, 0), at(1_000, 0), t3)
        .expect("wrapping sample");
    assert_eq!(sync.delay(), Some(Duration::from_millis(500)));
    assert_eq!(sync.client_to_local(at(1_000, 0)), Some(NtpTimestamp(0)));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = TimingRequest::decode(&bytes);
        let _ = TimingReply::decode(&bytes);
    }

    #[test]
    fn packets_round_trip(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
        let request = TimingRequest { reference: NtpTimestamp(a), receive: NtpTimestamp(b), transmit: NtpTimestamp(c) };
        prop_assert_eq!(TimingRequest::decode(&request.to_bytes()), Ok(request));
        let reply = TimingReply { origin: NtpTimestamp(a), receive: NtpTimestamp(b), transmit: NtpTimestamp(c) };
        prop_assert_eq!(TimingReply::decode(&reply.to_bytes()), Ok(reply));
    }

    #[test]
    fn duration_round_trip_is_exact(secs in 0u64..=u64::from(u32::MAX), nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        prop_assert_eq!(NtpTimestamp::from_duration(d).to_duration(), d);
    }

    #[test]
    fn estimator_never_panics_and_inverts(times in proptest::array::uniform4(any::<u64>()), probe in any::<u64>()) {
        let mut sync = ClockSync::new();
        let [t0, t1, t2, t3] = times.map(NtpTimestamp);
        if sync.add_sample(t0, t1, t2, t3).is_ok() {
            let local = sync.client_to_local(NtpTimestamp(probe));
            prop_assert!(local.is_some());
            prop_assert_eq!(local.and_then(|l| sync.local_to_client(l)), Some(NtpTimestamp(probe)));
            let _ = (sync.offset(), sync.delay());
        }
    }
}

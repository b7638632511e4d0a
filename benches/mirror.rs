//! Receiver hot path: AES-CTR decrypt + AVCC → Annex-B reframe of realistic access units
//! (a ~100 kB IDR with an SEI and four slices, an ~8 kB P frame with two slices).
//! Target: ≥ 1.5 GB/s on one core for `handle`.

use airglass::proto::mirror::{
    MirrorHeader, MirrorStream, MirrorWriter, VideoCodec, avcc_to_annexb_in_place,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const KEY: [u8; 16] = [0x5a; 16];
const IV: [u8; 16] = [0xa5; 16];

/// An AVCC access unit whose NALs start with the given header bytes and have the given sizes.
fn access_unit(nals: &[(u8, usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seed = 0x1234_5678u32;
    for &(first, len) in nals {
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.push(first);
        out.extend((1..len).map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as u8
        }));
    }
    out
}

fn bench_receive(c: &mut Criterion) {
    let idr = access_unit(&[
        (0x06, 30),
        (0x65, 25_000),
        (0x65, 25_000),
        (0x65, 25_000),
        (0x65, 24_930),
    ]);
    let p = access_unit(&[(0x41, 4_000), (0x41, 4_184)]);
    let mut group = c.benchmark_group("mirror_receive");
    for (name, au) in [("idr_100k", &idr), ("p_8k", &p)] {
        group.throughput(Throughput::Bytes(au.len() as u64));
        let mut writer = MirrorWriter::new(&KEY, &IV, VideoCodec::H264);
        let mut stream = MirrorStream::new(&KEY, &IV, false);
        let mut timestamp = 0u64;
        // Setup (untimed) encrypts with the writer; inputs reach `handle` in the same order, so
        // sender and receiver keystreams stay in step.
        group.bench_function(format!("handle_{name}"), |b| {
            b.iter_batched(
                || {
                    timestamp += 1;
                    let (header, payload) = writer.video_record(au.clone(), timestamp).unwrap();
                    (MirrorHeader::decode(&header).unwrap(), payload)
                },
                |(header, payload)| black_box(stream.handle(&header, payload).unwrap()),
                BatchSize::SmallInput,
            )
        });
        let mut buf = au.clone();
        group.bench_function(format!("decrypt_only_{name}"), |b| {
            b.iter(|| stream.decrypt_video_in_place(black_box(&mut buf)))
        });
        group.bench_function(format!("reframe_only_{name}"), |b| {
            b.iter_batched_ref(
                || au.clone(),
                |buf| black_box(avcc_to_annexb_in_place(buf, VideoCodec::H264).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_receive);
criterion_main!(benches);

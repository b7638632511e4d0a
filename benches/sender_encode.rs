//! Cost of the built-in sender's content path: drawing a test-pattern frame, and drawing plus
//! H.264-encoding it, at the sizes `--test-stream` might use. One iteration is one frame of a
//! continuing 30 fps stream (periodic IDRs included), so time per iteration x 30 is the CPU
//! time one streamed second costs on one core.

use std::hint::black_box;
use std::time::Duration;

use airglass::sender::{H264Encoder, TestPattern};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const LABEL: &str = "AIRGLASS TEST \u{2192} Living Room TV";
const FPS: u32 = 30;
/// (width, height, target bitrate) for each size measured.
const SIZES: [(u32, u32, u32); 4] = [
    (1920, 1080, 4_000_000),
    (1280, 720, 2_500_000),
    (960, 540, 1_500_000),
    (640, 360, 1_000_000),
];

fn elapsed_of(frame_index: u64) -> Duration {
    Duration::from_millis(frame_index * 1000 / u64::from(FPS))
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("sender_render");
    for &(width, height, _) in &SIZES[..2] {
        let Ok(pattern) = TestPattern::new(width, height, LABEL) else {
            continue;
        };
        let mut frame = pattern.new_frame();
        let mut index = 0u64;
        group.bench_function(
            BenchmarkId::from_parameter(format!("{width}x{height}")),
            |b| {
                b.iter(|| {
                    index += 1;
                    let _ = pattern.render(black_box(index), elapsed_of(index), &mut frame);
                    black_box(&frame);
                })
            },
        );
    }
    group.finish();
}

fn render_and_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sender_render_encode_30fps");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for &(width, height, bitrate) in &SIZES {
        let (Ok(pattern), Ok(mut encoder)) = (
            TestPattern::new(width, height, LABEL),
            H264Encoder::new(width, height, FPS, bitrate),
        ) else {
            continue;
        };
        let mut frame = pattern.new_frame();
        let mut index = 0u64;
        group.bench_function(
            BenchmarkId::from_parameter(format!("{width}x{height}")),
            |b| {
                b.iter(|| {
                    let _ = pattern.render(index, elapsed_of(index), &mut frame);
                    let au = encoder.encode(&frame, false);
                    index += 1;
                    black_box(au.map(|au| au.annexb.len()).unwrap_or(0))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, render, render_and_encode);
criterion_main!(benches);

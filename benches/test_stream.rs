//! End-to-end costs of the built-in sender against the real receiver in this process:
//!
//! 1. time from the sender's TCP connect to the first decoded picture (median of 20 sessions,
//!    GStreamer decoding into fakesink), with the steady-state send->decoded latency;
//! 2. the sender's own CPU per streamed second at 1080p30 (render + encode + encrypt + write,
//!    measured with getrusage on its stream thread) against a receiver with the `null` video
//!    backend, so decoding does not compete for the CPU.
//!
//! Prints numbers; no pass/fail. Run with `cargo bench --bench test_stream`.

use airglass::app::App;
use airglass::config::{Config, TestStreamProfile, TestStreamSize};
use airglass::sender::test_stream::connect_address;
use airglass::sender::{Report, TestStreamOptions, run_session};
use clap::Parser;
use std::time::Duration;

const RUNS: usize = 20;

fn receiver_config(dir: &std::path::Path, backend: &str) -> Config {
    Config::try_parse_from([
        "airglass",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-mdns",
        "--state-dir",
        dir.to_str().unwrap_or("."),
        "--video-backend",
        backend,
        "--video-sink",
        "fakesink",
        "--log",
        "warn",
    ])
    .expect("bench config parses")
}

fn options(size: &str, seconds: f64) -> TestStreamOptions {
    TestStreamOptions {
        profile: TestStreamProfile::Ios17,
        size: size.parse::<TestStreamSize>().expect("size parses"),
        duration: Duration::from_secs_f64(seconds),
        fault: None,
        live: None,
    }
}

async fn session(app: &App, opts: &TestStreamOptions) -> Report {
    let target = connect_address(app.local_addr).to_string();
    run_session(&target, Some(app), opts).await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

async fn first_picture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::start(&receiver_config(dir.path(), "gst"))
        .await
        .expect("receiver starts");
    let opts = options("640x360@30", 0.5);
    let mut firsts = Vec::new();
    let mut p50s = Vec::new();
    for _ in 0..RUNS {
        let r = session(&app, &opts).await;
        if !r.healthy {
            println!("unhealthy run: {}", r.verdict);
            continue;
        }
        if let Some(ms) = r.latency.connect_to_first_decoded_ms {
            firsts.push(ms);
        }
        if let Some(p) = r.latency.send_to_decoded_ms {
            p50s.push(p.p50);
        }
    }
    let (lo, hi) = firsts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    println!(
        "test_stream/connect_to_first_decoded 640x360@30 gst+fakesink: median {:.1} ms (min {lo:.1}, max {hi:.1}, {} of {RUNS} runs)",
        median(firsts.clone()),
        firsts.len()
    );
    println!(
        "test_stream/send_to_decoded_p50 (steady state, per run): median {:.1} ms",
        median(p50s)
    );
    app.stop().await;
}

async fn sender_cpu() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::start(&receiver_config(dir.path(), "null"))
        .await
        .expect("receiver starts");
    let r = session(&app, &options("1920x1080@30", 5.0)).await;
    println!(
        "test_stream/sender_cpu 1920x1080@30 for 5 s: {} ms CPU per streamed second \
         ({} frames, {} slots skipped, {:.2} fps, {} kB/s); stream: {}",
        r.sender_cpu_ms_per_s
            .map_or_else(|| "unknown".to_owned(), |c| format!("{c:.0}")),
        r.video.frames_sent,
        r.video.frames_late,
        r.video.achieved_fps,
        r.video.bytes_sent / 5 / 1000,
        r.steps
            .iter()
            .find(|s| s.name == "stream")
            .map_or_else(|| r.verdict.clone(), |s| s.detail.clone())
    );
    app.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and only builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        first_picture().await;
        sender_cpu().await;
    });
}

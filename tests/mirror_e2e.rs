//! Issue 3 end to end: a real H.264 clip (encoded here with openh264), sent as encrypted
//! mirror packets over loopback to the running receiver, decoded by the real GStreamer
//! pipeline. The sink end is replaced (as `--video-sink` allows) by `multifilesink`, so every
//! decoded picture lands in a file we can count and inspect. The packets are built from
//! PROTOCOL.md §5 with the raw control client, not the built-in sender.

mod common;

use airglass::app::App;
use airglass::config::Config;
use airglass::proto::keys;
use airglass::proto::mirror::{MirrorWriter, PictureSizes, VideoCodec, build_avcc_record};
use airglass::sender::{H264Encoder, I420Frame, TestPattern, split_annexb};
use clap::Parser;
use common::control::Conn;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SPS: u8 = 7;
const PPS: u8 = 8;

struct Clip {
    width: u32,
    height: u32,
    pattern: TestPattern,
    sources: Vec<I420Frame>,
    /// Annex-B access units, SPS and PPS in front of every keyframe.
    aus: Vec<Vec<u8>>,
    keyframes: Vec<bool>,
    params: Vec<(Vec<u8>, Vec<u8>)>,
}

fn encode_clip(width: u32, height: u32, frames: usize) -> Clip {
    let pattern = TestPattern::new(width, height, "E2E").unwrap();
    let mut enc = H264Encoder::new(width, height, 30, 1_000_000).unwrap();
    let mut clip = Clip {
        width,
        height,
        sources: Vec::new(),
        aus: Vec::new(),
        keyframes: Vec::new(),
        params: Vec::new(),
        pattern,
    };
    for i in 0..frames {
        let mut f = clip.pattern.new_frame();
        clip.pattern
            .render(i as u64, Duration::from_millis(i as u64 * 33), &mut f)
            .unwrap();
        let au = enc.encode(&f, false).unwrap();
        clip.params.push((
            au.sps.first().cloned().unwrap_or_default(),
            au.pps.first().cloned().unwrap_or_default(),
        ));
        clip.keyframes.push(au.keyframe);
        clip.aus.push(au.annexb);
        clip.sources.push(f);
    }
    clip
}

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// Sends the clip as iOS does: a codec packet before each keyframe carrying SPS/PPS, and the
/// access units without in-band parameter sets.
async fn send_clip(data: &mut TcpStream, w: &mut MirrorWriter, clip: &Clip, ts: &mut u64) {
    for (i, au) in clip.aus.iter().enumerate() {
        if clip.keyframes[i] {
            let (sps, pps) = &clip.params[i];
            let record = build_avcc_record(&[sps], &[pps]).unwrap();
            let sizes = PictureSizes::square(clip.width, clip.height);
            let (h, p) = w.codec_record(record, *ts, false, sizes).unwrap();
            data.write_all(&h).await.unwrap();
            data.write_all(&p).await.unwrap();
        }
        let mut body = Vec::new();
        for nal in split_annexb(au) {
            if !matches!(nal_type(nal), SPS | PPS) {
                body.extend_from_slice(&[0, 0, 0, 1]);
                body.extend_from_slice(nal);
            }
        }
        let (h, p) = w.video_record_from_annexb(&body, *ts).unwrap();
        data.write_all(&h).await.unwrap();
        data.write_all(&p).await.unwrap();
        *ts += (1u64 << 32) / 30;
    }
}

fn frame_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "yuv"));
    v.sort();
    v
}

async fn wait_for_frames(dir: &Path, want: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files = frame_files(dir);
        if files.len() >= want || Instant::now() > deadline {
            // Let the last write finish.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return frame_files(dir);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_app(dir: &Path) -> App {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("AIRGLASS_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let sink = format!(
        "videoconvert ! video/x-raw,format=I420 ! multifilesink location={}/f%05d.yuv",
        dir.display()
    );
    let config = Config::try_parse_from([
        "airglass",
        "--name",
        "E2E TV",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-mdns",
        "--video-sync",
        "off",
        "--video-sink",
        &sink,
        "--dump-video",
        dir.join("dump.h264").to_str().unwrap(),
        "--state-dir",
        dir.join("state").to_str().unwrap(),
    ])
    .unwrap();
    App::start(&config).await.unwrap()
}

/// Handshake, mirror SETUP; returns the control connection, the data port and the writer.
async fn open_mirror(app: &App) -> (Conn, u16, MirrorWriter, tokio::net::UdpSocket) {
    let v = common::vectors();
    let timing = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = Conn::connect(app.local_addr).await;
    let r = c.handshake(&v, timing.local_addr().unwrap().port()).await;
    assert_eq!(r.status, 200);
    let k = &v["kdf_ctr"][0];
    let id: u64 = k["stream_connection_id"].as_str().unwrap().parse().unwrap();
    let port = c.setup_mirror(id).await;
    // No pairing: the FairPlay key is the session key.
    let fp_key: [u8; 16] = common::hex_array(k, "fp_aeskey");
    let (key, iv) = keys::video_key_iv(&fp_key, id);
    (
        c,
        port,
        MirrorWriter::new(&key, &iv, VideoCodec::H264),
        timing,
    )
}

fn y_mean(data: &[u8], width: u32, rect: airglass::sender::Rect) -> f64 {
    let mut sum = 0u64;
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            sum += u64::from(data[(y * width + x) as usize]);
        }
    }
    sum as f64 / f64::from(rect.width * rect.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clip_decodes_frame_for_frame_through_rotation_pause_and_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path()).await;
    let (mut c, port, mut w, _timing) = open_mirror(&app).await;
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();

    let a = encode_clip(320, 240, 36);
    let b = encode_clip(352, 288, 20);
    let mut ts = 5000u64 << 32;
    send_clip(&mut data, &mut w, &a, &mut ts).await;
    // A heartbeat-only stretch and a pause (screen locked), then the other orientation.
    for _ in 0..3 {
        data.write_all(&w.heartbeat_record()).await.unwrap();
    }
    let (sps, pps) = &a.params[0];
    let (h, p) = w
        .codec_record(
            build_avcc_record(&[sps], &[pps]).unwrap(),
            ts,
            true,
            PictureSizes::square(320, 240),
        )
        .unwrap();
    data.write_all(&h).await.unwrap();
    data.write_all(&p).await.unwrap();
    send_clip(&mut data, &mut w, &b, &mut ts).await;

    let files = wait_for_frames(dir.path(), a.aus.len() + b.aus.len()).await;
    assert_eq!(
        files.len(),
        a.aus.len() + b.aus.len(),
        "every frame decoded, none extra"
    );
    let size_a = (320 * 240 * 3 / 2) as u64;
    let size_b = (352 * 288 * 3 / 2) as u64;
    for (i, f) in files.iter().enumerate() {
        let want = if i < a.aus.len() { size_a } else { size_b };
        assert_eq!(std::fs::metadata(f).unwrap().len(), want, "frame {i} size");
    }
    // A known frame's pixels match the source: every colour bar and the sweeping box.
    for (clip, index) in [(&a, 20usize), (&b, a.aus.len() + 10)] {
        let local = if index >= a.aus.len() {
            index - a.aus.len()
        } else {
            index
        };
        let decoded = std::fs::read(&files[index]).unwrap();
        let src = &clip.sources[local];
        for bar in 0..7 {
            let rect = clip.pattern.bar_probe_rect(bar).unwrap();
            let got = y_mean(&decoded, clip.width, rect);
            let want = y_mean(&src.y, clip.width, rect);
            assert!(
                (got - want).abs() < 6.0,
                "frame {index} bar {bar}: Y {got:.1} vs {want:.1}"
            );
        }
        let sweep = clip
            .pattern
            .sweep_box_rect(Duration::from_millis(local as u64 * 33))
            .inset(2);
        let got = y_mean(&decoded, clip.width, sweep);
        let want = y_mean(&src.y, clip.width, sweep);
        assert!(
            (got - want).abs() < 12.0,
            "frame {index} box: Y {got:.1} vs {want:.1}"
        );
    }
    // The worker publishes its counters twice a second.
    let want = (a.aus.len() + b.aus.len()) as u64;
    let deadline = Instant::now() + Duration::from_secs(3);
    while app.video_stats().sink.frames_decoded < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = app.video_stats();
    assert_eq!(stats.sink.frames_decoded, want);
    assert_eq!(stats.sink.rebuilds, 0);
    assert_eq!(c.request("OPTIONS *", None, b"").await.status, 200);
    app.stop().await;

    // The dump (complete once the receiver stopped) is the source, NAL for NAL, with the
    // parameter sets in front of each keyframe.
    let dump = std::fs::read(dir.path().join("dump.h264")).unwrap();
    let sent: Vec<Vec<u8>> = a
        .aus
        .iter()
        .chain(b.aus.iter())
        .flat_map(|au| {
            split_annexb(au)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    let dumped: Vec<Vec<u8>> = split_annexb(&dump)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(dumped.len(), sent.len());
    assert!(dumped == sent, "dump differs from the source NAL units");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_streams_end_only_the_stream_and_teardown_frees_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path()).await;
    let (mut c, port, mut w, _timing) = open_mirror(&app).await;
    let clip = encode_clip(320, 240, 10);
    let mut ts = 1u64 << 32;

    // 1. The sender disconnects in the middle of a packet.
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    send_clip(&mut data, &mut w, &clip, &mut ts).await;
    let (h, p) = w.video_record_from_annexb(&clip.aus[1], ts).unwrap();
    data.write_all(&h).await.unwrap();
    data.write_all(&p[..p.len() / 2]).await.unwrap();
    drop(data);
    // The receiver ends that stream and idles the screen (frames still queued are dropped).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        c.request("OPTIONS *", None, b"").await.status,
        200,
        "control session survives"
    );
    assert!(app.is_busy(), "the session is still there");

    // 2. A new mirror stream on the same session works; then an oversized header ends it.
    let id = 77u64;
    let port = c.setup_mirror(id).await;
    let v = common::vectors();
    let fp_key: [u8; 16] = common::hex_array(&v["kdf_ctr"][0], "fp_aeskey");
    let (key, iv) = keys::video_key_iv(&fp_key, id);
    let mut w = MirrorWriter::new(&key, &iv, VideoCodec::H264);
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let before = frame_files(dir.path()).len();
    send_clip(&mut data, &mut w, &clip, &mut ts).await;
    let files = wait_for_frames(dir.path(), before + clip.aus.len()).await;
    assert_eq!(
        files.len(),
        before + clip.aus.len(),
        "the second stream decodes from its keyframe"
    );
    let mut huge = [0u8; 128];
    huge[..4].copy_from_slice(&(64u32 << 20).to_le_bytes());
    data.write_all(&huge).await.unwrap();
    let mut rest = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut data, &mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "oversized packet ends the stream"
    );

    // 3. A video packet whose payload is noise (as with a wrong key): only that stream ends.
    let port = c.setup_mirror(78).await;
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut header = [0u8; 128];
    header[..4].copy_from_slice(&(noise.len() as u32).to_le_bytes());
    data.write_all(&header).await.unwrap();
    data.write_all(&noise).await.unwrap();
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut data, &mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "garbage ends the stream"
    );
    assert_eq!(c.request("OPTIONS *", None, b"").await.status, 200);

    // 4. A plain TEARDOWN returns the receiver to idle within a second.
    let started = Instant::now();
    assert_eq!(c.teardown_plain().await.status, 200);
    while app.is_busy() && started.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!app.is_busy(), "idle within one second of TEARDOWN");
    app.stop().await;
}

//! The video worker: one thread owning the [`VideoSink`], fed through a channel that never
//! blocks its senders (network tasks), so a slow decoder or a pipeline rebuild never stalls
//! them. Frames waiting for the worker are bounded by count and by bytes; past either bound
//! they are dropped (counted) instead of growing memory. Commands are never dropped.

use crate::media::MediaError;
use crate::media::{Codec, EncodedFrame, VideoSink, VideoStats};
use crate::proto::mirror::{CodecConfig, VideoCodec};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

/// Frames that may wait for the decoder (four seconds at 60 fps)...
const QUEUE_FRAMES: usize = 240;
/// ...and their bytes (a hostile sender's frames can be 16 MiB each).
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Head start given to the first synced frame of a stream on the pipeline clock.
const SYNC_MARGIN: Duration = Duration::from_millis(30);
/// A synced frame further than this from the pipeline clock re-anchors the stream (the
/// sender's clock jumped, or the pipeline was rebuilt).
const MAX_SYNC_SKEW: Duration = Duration::from_secs(2);
/// How often the counters are refreshed while idle, and while a pipeline runs (pictures come
/// out of the decoder between commands; `--test-stream` reads them for its latency figures).
const PUBLISH_IDLE: Duration = Duration::from_millis(500);
const PUBLISH_STREAMING: Duration = Duration::from_millis(2);

/// What the worker is told to do.
#[derive(Debug)]
pub enum VideoCommand {
    /// Parameter sets and size for what follows (starts the pipeline if needed).
    Config(CodecConfig),
    /// One access unit.
    Frame(EncodedFrame),
    Pause,
    Resume,
    /// Return the screen to idle.
    Stop,
    /// Answer once every command before this one is done.
    Sync(tokio::sync::oneshot::Sender<()>),
    /// End the worker.
    Shutdown,
}

/// Counters the app and `--test-stream` report.
#[derive(Debug, Default, Clone)]
pub struct WorkerStats {
    pub queued_drops: u64,
    pub sink: VideoStats,
    pub description: String,
}

/// Frames queued for the worker: how many, and their bytes.
#[derive(Debug, Default)]
struct Backlog {
    frames: AtomicUsize,
    bytes: AtomicUsize,
}

impl Backlog {
    /// Reserves room for a frame of `len` bytes, or says no.
    fn admit(&self, len: usize) -> bool {
        let frames = self.frames.fetch_add(1, Ordering::SeqCst);
        let bytes = self.bytes.fetch_add(len, Ordering::SeqCst);
        if frames >= QUEUE_FRAMES || bytes.saturating_add(len) > QUEUE_BYTES {
            self.release(len);
            return false;
        }
        true
    }

    fn release(&self, len: usize) {
        self.frames.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(len, Ordering::SeqCst);
    }
}

/// Handle to the worker thread.
pub struct VideoWorker {
    tx: Sender<VideoCommand>,
    backlog: Arc<Backlog>,
    stats: Arc<Mutex<WorkerStats>>,
    thread: Option<JoinHandle<()>>,
}

fn media_codec(c: VideoCodec) -> Codec {
    match c {
        VideoCodec::H264 => Codec::H264,
        VideoCodec::H265 => Codec::H265,
    }
}

impl VideoWorker {
    pub fn start(sink: Box<dyn VideoSink>) -> std::io::Result<VideoWorker> {
        let (tx, rx) = mpsc::channel();
        let backlog = Arc::new(Backlog::default());
        let stats = Arc::new(Mutex::new(WorkerStats {
            description: sink.describe(),
            ..WorkerStats::default()
        }));
        let s = stats.clone();
        let b = backlog.clone();
        let thread = std::thread::Builder::new()
            .name("airglass-video".into())
            .spawn(move || run(sink, rx, s, b))?;
        Ok(VideoWorker {
            tx,
            backlog,
            stats,
            thread: Some(thread),
        })
    }

    /// Queues a command without ever blocking; a frame is dropped (and counted) when the
    /// backlog is full.
    pub fn send(&self, cmd: VideoCommand) {
        if let VideoCommand::Frame(f) = &cmd
            && !self.backlog.admit(f.data.len())
        {
            self.stats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .queued_drops += 1;
            return;
        }
        let _ = self.tx.send(cmd);
    }

    /// Waits (at most `limit`) until the worker has handled everything sent before.
    pub async fn settle(&self, limit: Duration) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(VideoCommand::Sync(done));
        let _ = tokio::time::timeout(limit, wait).await;
    }

    pub fn stats(&self) -> WorkerStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the worker and waits for it (bounded by the sink's own stop).
    pub fn shutdown(&mut self) {
        let _ = self.tx.send(VideoCommand::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for VideoWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Moves a stream's presentation times (which start near zero) onto the pipeline's running
/// time, re-anchoring when they drift too far from it.
#[derive(Debug, Default)]
struct PtsRebase {
    /// Added to every pts: (running time at the first frame + margin) - first pts.
    shift: Option<(Duration, Duration)>,
}

impl PtsRebase {
    fn reset(&mut self) {
        self.shift = None;
    }

    fn apply(&mut self, pts: Duration, now: Duration) -> Duration {
        let place = |(base, first): (Duration, Duration)| (base + pts).saturating_sub(first);
        if let Some(shift) = self.shift {
            let at = place(shift);
            if at + MAX_SYNC_SKEW >= now && at <= now + MAX_SYNC_SKEW {
                return at;
            }
        }
        let shift = (now + SYNC_MARGIN, pts);
        self.shift = Some(shift);
        place(shift)
    }
}

/// The last parameter sets, given again to a pipeline rebuilt mid-stream (after a decoder
/// error): iOS sends SPS/PPS only in codec packets, not in front of every keyframe, so a
/// fresh parser would otherwise never see them and decode nothing until the next one.
#[derive(Debug, Default)]
struct ParameterSets {
    last: Option<(VideoCodec, Vec<u8>)>,
    rebuilds_seen: u64,
    needed: bool,
}

impl ParameterSets {
    fn remember(&mut self, cfg: &CodecConfig) {
        self.last = Some((cfg.codec, cfg.annexb.clone()));
    }

    /// Called after each push with the sink's rebuild counter.
    fn note_rebuilds(&mut self, rebuilds: u64) {
        if rebuilds != self.rebuilds_seen {
            self.rebuilds_seen = rebuilds;
            self.needed = true;
        }
    }

    /// Puts the parameter sets in front of the first keyframe after a rebuild.
    fn restore(&mut self, frame: &mut EncodedFrame) {
        if !self.needed || !frame.keyframe {
            return;
        }
        self.needed = false;
        if let Some((codec, sets)) = &self.last
            && !starts_with_parameter_set(&frame.data, *codec)
        {
            let mut data = Vec::with_capacity(sets.len() + frame.data.len());
            data.extend_from_slice(sets);
            data.extend_from_slice(&frame.data);
            frame.data = data;
        }
    }
}

/// Whether an Annex-B access unit (4-byte start code) opens with a VPS/SPS.
fn starts_with_parameter_set(data: &[u8], codec: VideoCodec) -> bool {
    match (codec, data.get(4)) {
        (VideoCodec::H264, Some(h)) => h & 0x1F == 7,
        (VideoCodec::H265, Some(h)) => matches!((h >> 1) & 0x3F, 32 | 33),
        (_, None) => false,
    }
}

fn run(
    mut sink: Box<dyn VideoSink>,
    rx: Receiver<VideoCommand>,
    stats: Arc<Mutex<WorkerStats>>,
    backlog: Arc<Backlog>,
) {
    let mut current: Option<Codec> = None;
    let mut rebase = PtsRebase::default();
    let mut params = ParameterSets::default();
    let publish = |sink: &dyn VideoSink| {
        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
        s.sink = sink.stats();
        s.description = sink.describe();
    };
    loop {
        let wait = if current.is_some() {
            PUBLISH_STREAMING
        } else {
            PUBLISH_IDLE
        };
        let cmd = match rx.recv_timeout(wait) {
            Ok(cmd) => cmd,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                publish(sink.as_ref());
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match cmd {
            VideoCommand::Config(cfg) => {
                params.remember(&cfg);
                let codec = media_codec(cfg.codec);
                if current != Some(codec) {
                    rebase.reset();
                    if current.is_some() {
                        sink.stop();
                    }
                    match sink.start(codec) {
                        Ok(()) => {
                            info!(?codec, width = cfg.width, height = cfg.height, video = %sink.describe(), "video started");
                            current = Some(codec);
                        }
                        Err(e) => {
                            warn!(error = %e, "video pipeline could not start");
                            current = None;
                        }
                    }
                } else {
                    info!(
                        width = cfg.width,
                        height = cfg.height,
                        "video format changed"
                    );
                }
            }
            VideoCommand::Frame(mut frame) => {
                backlog.release(frame.data.len());
                if let (Some(pts), Some(now)) = (frame.pts, sink.running_time()) {
                    frame.pts = Some(rebase.apply(pts, now));
                }
                params.restore(&mut frame);
                if current.is_some()
                    && let Err(e) = sink.push(frame)
                {
                    if matches!(
                        e,
                        MediaError::DecoderFailed { .. } | MediaError::Stream { .. }
                    ) {
                        // The sink gave up: stop instead of failing every later frame. The
                        // next codec packet (rotation, resume, a new stream) starts it again.
                        warn!(error = %e, "video stopped after an unrecoverable error");
                        sink.stop();
                        current = None;
                    } else {
                        warn!(error = %e, "video frame not accepted");
                    }
                }
                params.note_rebuilds(sink.stats().rebuilds);
            }
            VideoCommand::Pause => sink.pause(),
            VideoCommand::Resume => sink.resume(),
            VideoCommand::Stop => {
                rebase.reset();
                if current.take().is_some() {
                    sink.stop();
                    info!("video stopped; screen idle");
                }
            }
            VideoCommand::Sync(done) => {
                let _ = done.send(());
            }
            VideoCommand::Shutdown => break,
        }
        publish(sink.as_ref());
    }
    if current.is_some() {
        sink.stop();
    }
    publish(sink.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn rebase_puts_the_first_frame_just_ahead_of_the_clock() {
        let mut r = PtsRebase::default();
        assert_eq!(r.apply(ms(0), ms(5000)), ms(5030));
        assert_eq!(r.apply(ms(33), ms(5040)), ms(5063));
        assert_eq!(r.apply(ms(66), ms(5100)), ms(5096));
    }

    /// A sink that records what it is given; `rebuilds` is bumped by the test the way the
    /// GStreamer sink bumps it after rebuilding on a decoder error.
    struct RecordingSink {
        pushed: Arc<Mutex<Vec<EncodedFrame>>>,
        rebuilds: Arc<std::sync::atomic::AtomicU64>,
    }

    impl VideoSink for RecordingSink {
        fn start(&mut self, _: Codec) -> Result<(), crate::media::MediaError> {
            Ok(())
        }
        fn push(&mut self, frame: EncodedFrame) -> Result<(), crate::media::MediaError> {
            self.pushed.lock().unwrap().push(frame);
            Ok(())
        }
        fn pause(&mut self) {}
        fn resume(&mut self) {}
        fn stop(&mut self) {}
        fn stats(&self) -> VideoStats {
            VideoStats {
                rebuilds: self.rebuilds.load(std::sync::atomic::Ordering::SeqCst),
                ..VideoStats::default()
            }
        }
        fn describe(&self) -> String {
            "recording".into()
        }
    }

    fn frame(data: &[u8], keyframe: bool) -> VideoCommand {
        VideoCommand::Frame(EncodedFrame {
            data: data.to_vec(),
            pts: None,
            keyframe,
        })
    }

    #[test]
    fn parameter_sets_return_after_a_pipeline_rebuild() {
        let pushed = Arc::new(Mutex::new(Vec::new()));
        let rebuilds = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut worker = VideoWorker::start(Box::new(RecordingSink {
            pushed: pushed.clone(),
            rebuilds: rebuilds.clone(),
        }))
        .unwrap();
        let sets = vec![0, 0, 0, 1, 0x67, 0xAA, 0, 0, 0, 1, 0x68, 0xBB];
        worker.send(VideoCommand::Config(CodecConfig {
            codec: VideoCodec::H264,
            nal_units: vec![vec![0x67, 0xAA], vec![0x68, 0xBB]],
            annexb: sets.clone(),
            width: 64,
            height: 64,
            source_width: 64,
            source_height: 64,
            paused: false,
        }));
        let mut first_idr = sets.clone();
        first_idr.extend_from_slice(&[0, 0, 0, 1, 0x65, 1]);
        worker.send(frame(&first_idr, true));
        worker.send(frame(&[0, 0, 0, 1, 0x41, 2], false));
        // The sink rebuilds its pipeline while taking this frame.
        rebuilds.store(1, std::sync::atomic::Ordering::SeqCst);
        worker.send(frame(&[0, 0, 0, 1, 0x41, 3], false));
        worker.send(frame(&[0, 0, 0, 1, 0x41, 4], false));
        worker.send(frame(&[0, 0, 0, 1, 0x65, 5], true));
        worker.send(frame(&[0, 0, 0, 1, 0x65, 6], true));
        worker.shutdown();
        let got: Vec<Vec<u8>> = pushed
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.data.clone())
            .collect();
        assert_eq!(got[0], first_idr, "already carries its parameter sets");
        assert_eq!(
            got[3],
            vec![0, 0, 0, 1, 0x41, 4],
            "delta frames are left alone"
        );
        let mut restored = sets.clone();
        restored.extend_from_slice(&[0, 0, 0, 1, 0x65, 5]);
        assert_eq!(
            got[4], restored,
            "first keyframe after the rebuild gets them back"
        );
        assert_eq!(got[5], vec![0, 0, 0, 1, 0x65, 6], "only once");
    }

    #[test]
    fn backlog_bounds_frames_and_bytes() {
        let b = Backlog::default();
        for _ in 0..QUEUE_FRAMES {
            assert!(b.admit(10));
        }
        assert!(!b.admit(10), "frame count bound");
        b.release(10);
        assert!(b.admit(10));
        let b = Backlog::default();
        assert!(b.admit(QUEUE_BYTES / 2));
        assert!(b.admit(QUEUE_BYTES / 2));
        assert!(!b.admit(1), "byte bound");
        b.release(QUEUE_BYTES / 2);
        assert!(b.admit(1));
        assert_eq!(b.frames.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn rebase_reanchors_after_a_jump_or_reset() {
        let mut r = PtsRebase::default();
        r.apply(ms(100), ms(1000));
        // The sender's clock jumps an hour ahead: re-anchor instead of waiting an hour.
        assert_eq!(r.apply(ms(3_600_000), ms(1100)), ms(1130));
        r.reset();
        assert_eq!(r.apply(ms(7), ms(200)), ms(230));
    }
}

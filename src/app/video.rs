//! The video worker: one thread owning the [`VideoSink`], fed through a bounded channel, so a
//! slow decoder or a pipeline rebuild never blocks the network tasks. A full channel drops
//! frames (counted) instead of growing memory.

use crate::media::{Codec, EncodedFrame, VideoSink, VideoStats};
use crate::proto::mirror::{CodecConfig, VideoCodec};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

/// Frames (and commands) that may wait for the decoder.
const QUEUE_DEPTH: usize = 240;
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

/// Handle to the worker thread.
pub struct VideoWorker {
    tx: SyncSender<VideoCommand>,
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
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let stats = Arc::new(Mutex::new(WorkerStats {
            description: sink.describe(),
            ..WorkerStats::default()
        }));
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("airglass-video".into())
            .spawn(move || run(sink, rx, s))?;
        Ok(VideoWorker {
            tx,
            stats,
            thread: Some(thread),
        })
    }

    /// Queues a command; frames are dropped when the queue is full, commands wait.
    pub fn send(&self, cmd: VideoCommand) {
        match cmd {
            VideoCommand::Frame(_) => match self.tx.try_send(cmd) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.stats
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .queued_drops += 1;
                }
                Err(TrySendError::Disconnected(_)) => {}
            },
            other => {
                let _ = self.tx.send(other);
            }
        }
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

fn run(mut sink: Box<dyn VideoSink>, rx: Receiver<VideoCommand>, stats: Arc<Mutex<WorkerStats>>) {
    let mut current: Option<Codec> = None;
    let mut rebase = PtsRebase::default();
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
                if let (Some(pts), Some(now)) = (frame.pts, sink.running_time()) {
                    frame.pts = Some(rebase.apply(pts, now));
                }
                if current.is_some()
                    && let Err(e) = sink.push(frame)
                {
                    warn!(error = %e, "video frame not accepted");
                }
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

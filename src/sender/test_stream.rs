//! `airglass --test-stream`: prove the whole chain with no phone. Starts the receiver as usual
//! (or targets another one), runs the built-in sender against it over the network stack,
//! watches the receiver's video counters while it streams, and builds the [`Report`].
//!
//! Owns: the order of the session (handshake, stream with `/feedback` every second, drain,
//! TEARDOWNs), latency sampling, and the live status callback. Must not touch: the receiver's
//! internals beyond [`App`]'s public counters; the terminal (the caller prints).

use super::fairplay_pairs::next_recorded_key;
use super::handshake::{self, Established};
use super::mirror::{self, StreamOutcome, StreamPlan, StreamProgress};
use super::profile::ClientShape;
use super::report::{
    Content, LatencyReport, Percentiles, REPORT_VERSION, Report, StepLog, TimingReport, VideoReport,
};
use super::timing::SenderClock;
use crate::app::video::WorkerStats;
use crate::app::{App, AppError};
use crate::config::{Config, TestStreamFault, TestStreamProfile, TestStreamSize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// How often the receiver's counters are read during a local run.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);
/// `/feedback` period (iOS: every 1-2 s).
const FEEDBACK_EVERY: Duration = Duration::from_secs(1);
/// How often the live status is reported.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// After the last frame, how long decoding may make no progress before we stop waiting.
const DRAIN_IDLE: Duration = Duration::from_secs(1);
const DRAIN_MAX: Duration = Duration::from_secs(5);
/// How long the receiver has to return to idle after the final TEARDOWN.
const IDLE_AFTER_TEARDOWN: Duration = Duration::from_secs(2);

const LATENCY_DEFINITION: &str = "send->X: from the sender handing frame i's record to the kernel to the receiver's \
video counter X reaching i+1, read every 2 ms from App::video_stats() (the video worker \
refreshes it at least every 2 ms while streaming); frames are matched by count, so drops \
would skew it; steady state only: frames sent after the first picture was decoded (start-up \
is connect->first decoded); local runs only";

/// A snapshot for the live status line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStatus {
    pub elapsed: Duration,
    pub duration: Duration,
    pub frames_sent: u64,
    /// `None` when the receiver is not in this process.
    pub frames_decoded: Option<u64>,
}

/// Receives live status while streaming (the binary prints it when stderr is a terminal).
pub type LiveCallback = Arc<dyn Fn(&LiveStatus) + Send + Sync>;

/// What to test.
#[derive(Clone)]
pub struct TestStreamOptions {
    pub profile: TestStreamProfile,
    pub size: TestStreamSize,
    pub duration: Duration,
    pub fault: Option<TestStreamFault>,
    pub live: Option<LiveCallback>,
}

impl TestStreamOptions {
    /// The options `config` asks for, or `None` when no test stream was requested.
    pub fn from_config(config: &Config) -> Option<TestStreamOptions> {
        let secs = config.test_stream_seconds()?;
        Some(TestStreamOptions {
            profile: config.test_stream_profile,
            size: config
                .test_stream_size
                .unwrap_or_else(TestStreamSize::for_this_machine),
            duration: Duration::from_secs_f64(secs),
            fault: config.test_stream_fault,
            live: None,
        })
    }
}

/// The address to reach a local receiver listening on `local`: loopback for a wildcard bind.
pub fn connect_address(local: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
    } else {
        local
    }
}

/// Runs the test `config` asks for: against `--test-stream-target`, or against a receiver
/// started here with the same configuration (stopped again afterwards).
pub async fn run_cli(config: &Config, live: Option<LiveCallback>) -> Result<Report, AppError> {
    let mut options = TestStreamOptions::from_config(config)
        .ok_or_else(|| AppError::Config("no test stream was requested".to_owned()))?;
    options.live = live;
    if let Some(target) = &config.test_stream_target {
        return Ok(run_session(target, None, &options).await);
    }
    let app = App::start(&private_receiver(config)).await?;
    let target = connect_address(app.local_addr).to_string();
    let report = run_session(&target, Some(&app), &options).await;
    app.stop().await;
    Ok(report)
}

/// The configuration of the receiver a test stream starts: the configured video path
/// (decoder, sink, display), but an ephemeral loopback port, no mDNS and a status file of its
/// own, so it neither clashes with an airglass service already running on this box, nor shows
/// up on phones, nor makes the supervisor think someone is mirroring.
pub fn private_receiver(config: &Config) -> Config {
    let mut local = config.clone();
    local.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    local.port = 0;
    local.no_mdns = true;
    local.status_file = Some(config.resolved_state_dir().join("test-stream-status.json"));
    local
}

/// Reads the receiver's counters and notes when each frame was pushed and decoded.
struct Sampler {
    base: WorkerStats,
    last: WorkerStats,
    pushed_at: Vec<Instant>,
    decoded_at: Vec<Instant>,
}

impl Sampler {
    fn new(app: &App) -> Sampler {
        let base = app.video_stats();
        Sampler {
            last: base.clone(),
            base,
            pushed_at: Vec::new(),
            decoded_at: Vec::new(),
        }
    }

    fn poll(&mut self, app: &App) {
        let now = Instant::now();
        let s = app.video_stats();
        let pushed = s
            .sink
            .frames_pushed
            .saturating_sub(self.base.sink.frames_pushed);
        let decoded = s
            .sink
            .frames_decoded
            .saturating_sub(self.base.sink.frames_decoded);
        while (self.pushed_at.len() as u64) < pushed {
            self.pushed_at.push(now);
        }
        while (self.decoded_at.len() as u64) < decoded {
            self.decoded_at.push(now);
        }
        self.last = s;
    }

    fn decoded(&self) -> u64 {
        self.decoded_at.len() as u64
    }

    /// Receiver-side counts of this run only.
    fn fill(&self, v: &mut VideoReport) {
        let (a, b) = (&self.base, &self.last);
        v.description = Some(b.description.clone());
        v.frames_pushed = Some(self.pushed_at.len() as u64);
        v.frames_decoded = Some(self.decoded());
        v.frames_dropped = Some(
            b.sink.frames_dropped.saturating_sub(a.sink.frames_dropped)
                + b.queued_drops.saturating_sub(a.queued_drops),
        );
        v.errors = Some(b.sink.errors.saturating_sub(a.sink.errors));
        v.rebuilds = Some(b.sink.rebuilds.saturating_sub(a.sink.rebuilds));
    }
}

/// Latency of each frame sent after `steady_from` (the first decoded picture: the pipeline's
/// start-up is reported as connect->first decoded instead), matching frames by count.
fn latencies(sent: &[Instant], reached: &[Instant], steady_from: Instant) -> Option<Percentiles> {
    Percentiles::of(
        sent.iter()
            .zip(reached)
            .filter(|(s, _)| **s >= steady_from)
            .map(|(s, r)| r.saturating_duration_since(*s))
            .collect(),
    )
}

/// One whole session against `target` (`HOST:PORT`). `app` is the receiver when it runs in
/// this process; its counters then give decoded frames and latency. Never fails: every
/// problem ends up in the report's steps and verdict.
pub async fn run_session(target: &str, app: Option<&App>, opts: &TestStreamOptions) -> Report {
    let shape = ClientShape::of(opts.profile);
    let started = Instant::now();
    let mut log = StepLog::new(started);
    let clock = SenderClock::new();
    let mut report = Report {
        version: REPORT_VERSION,
        target: target.to_owned(),
        local_receiver: app.is_some(),
        receiver_name: None,
        profile: shape.name().to_owned(),
        user_agent: shape.user_agent.to_owned(),
        content: Content {
            width: opts.size.width,
            height: opts.size.height,
            fps: opts.size.fps,
            seconds: opts.duration.as_secs_f64(),
            label: String::new(),
        },
        paired: None,
        fairplay_mode: 0,
        steps: Vec::new(),
        video: VideoReport::default(),
        latency: LatencyReport {
            definition: LATENCY_DEFINITION,
            send_to_pushed_ms: None,
            send_to_decoded_ms: None,
            connect_to_first_decoded_ms: None,
        },
        timing: None,
        sender_cpu_ms_per_s: None,
        audio: "not streamed (the test sends video only)",
        healthy: false,
        failed_stage: None,
        verdict: String::new(),
    };
    session(target, app, opts, &shape, clock, &mut log, &mut report).await;
    report.steps = log.steps;
    report.judge();
    report
}

async fn resolve(target: &str) -> Result<SocketAddr, String> {
    match tokio::net::lookup_host(target).await {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{target} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {target:?} (want HOST:PORT): {e}")),
    }
}

async fn session(
    target: &str,
    app: Option<&App>,
    opts: &TestStreamOptions,
    shape: &ClientShape,
    clock: SenderClock,
    log: &mut StepLog,
    report: &mut Report,
) {
    let began = Instant::now();
    let recorded = match next_recorded_key() {
        Ok(k) => k,
        Err(e) => {
            log.fail("fairplay-data", began, e.to_string());
            return;
        }
    };
    report.fairplay_mode = recorded.mode;
    let addr = match resolve(target).await {
        Ok(a) => a,
        Err(why) => {
            log.fail("connect", began, why);
            return;
        }
    };
    let mut sampler = app.map(Sampler::new);
    let Some(mut est) = handshake::handshake(addr, shape, recorded, opts.fault, clock, log).await
    else {
        return;
    };
    report.paired = Some(est.paired);
    report.receiver_name = est.receiver_name.clone();

    let began = Instant::now();
    let data_addr = SocketAddr::new(addr.ip(), est.data_port);
    let socket = match mirror::connect(data_addr, Duration::from_secs(5)).await {
        Ok(s) => {
            log.ok("mirror-connect", began, format!("TCP to {data_addr}"));
            s
        }
        Err(e) => {
            log.fail("mirror-connect", began, format!("{data_addr}: {e}"));
            end_session(&mut est, shape, app, log).await;
            return;
        }
    };

    let label = format!(
        "AIRGLASS TEST \u{2192} {}",
        est.receiver_name.as_deref().unwrap_or(target)
    );
    report.content.label.clone_from(&label);
    let plan = StreamPlan {
        width: opts.size.width,
        height: opts.size.height,
        fps: opts.size.fps,
        duration: opts.duration,
        label,
        video_key: est.video_key,
        video_iv: est.video_iv,
        clock,
    };
    let outcome = stream_phase(&mut est, socket, plan, app, sampler.as_mut(), opts, log).await;

    // Let the decoder finish what it holds before the TEARDOWNs stop it.
    if let (Some(app), Some(s)) = (app, sampler.as_mut()) {
        drain(app, s, outcome.frames_sent, &outcome).await;
    }
    fill_video(report, &outcome, sampler.as_ref(), opts.size.fps);
    if let Some(s) = &sampler {
        if let Some(&first) = s.decoded_at.first() {
            report.latency.send_to_pushed_ms = latencies(&outcome.sent_at, &s.pushed_at, first);
            report.latency.send_to_decoded_ms = latencies(&outcome.sent_at, &s.decoded_at, first);
        }
        report.latency.connect_to_first_decoded_ms = s
            .decoded_at
            .first()
            .map(|t| t.saturating_duration_since(log.started()).as_secs_f64() * 1e3);
    }
    let began = Instant::now();
    match report.video.decode_check() {
        Ok(detail) => log.ok("decode", began, detail),
        Err(why) => log.fail("decode", began, why),
    }
    report.timing = Some(TimingReport {
        answers: shape.answers_timing,
        requests: est.timing.requests(),
        replies: est.timing.replies(),
    });
    end_session(&mut est, shape, app, log).await;
    if let Some(socket) = outcome.socket {
        mirror::close(socket);
    }
}

/// Streams on a blocking thread while this task sends `/feedback`, samples the receiver's
/// counters and reports live status.
async fn stream_phase(
    est: &mut Established,
    socket: std::net::TcpStream,
    plan: StreamPlan,
    app: Option<&App>,
    mut sampler: Option<&mut Sampler>,
    opts: &TestStreamOptions,
    log: &mut StepLog,
) -> StreamOutcome {
    let progress = Arc::new(StreamProgress::default());
    let p = progress.clone();
    let began = Instant::now();
    let mut handle = tokio::task::spawn_blocking(move || mirror::stream(socket, &plan, p));
    let mut feedback = tokio::time::interval(FEEDBACK_EVERY);
    let mut sample = tokio::time::interval(SAMPLE_EVERY);
    sample.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut status = tokio::time::interval(STATUS_EVERY);
    let (mut feedback_sent, mut feedback_error) = (0u64, None::<String>);
    let outcome = loop {
        tokio::select! {
            joined = &mut handle => break joined,
            _ = feedback.tick(), if feedback_error.is_none() => {
                match handshake::feedback(&mut est.client).await {
                    Ok(()) => feedback_sent += 1,
                    Err(why) => {
                        progress.stop.store(true, Ordering::SeqCst);
                        feedback_error = Some(why);
                    }
                }
            }
            _ = sample.tick(), if sampler.is_some() => {
                if let (Some(s), Some(app)) = (sampler.as_deref_mut(), app) {
                    s.poll(app);
                }
            }
            _ = status.tick(), if opts.live.is_some() => {
                if let Some(live) = &opts.live {
                    live(&LiveStatus {
                        elapsed: began.elapsed(),
                        duration: opts.duration,
                        frames_sent: progress.frames_sent.load(Ordering::Relaxed),
                        frames_decoded: sampler.as_deref().map(Sampler::decoded),
                    });
                }
            }
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            log.fail("stream", began, format!("the stream thread failed: {e}"));
            return StreamOutcome {
                frames_sent: 0,
                keyframes_sent: 0,
                codec_packets_sent: 0,
                bytes_sent: 0,
                frames_late: 0,
                sent_at: Vec::new(),
                started: began,
                finished: Instant::now(),
                receiver_closed: false,
                error: Some(e.to_string()),
                cpu: None,
                socket: None,
            };
        }
    };
    match feedback_error {
        None => log.ok(
            "feedback",
            began,
            format!("{feedback_sent} sent, all answered"),
        ),
        Some(why) => log.fail("feedback", began, why),
    }
    let secs = outcome
        .finished
        .duration_since(outcome.started)
        .as_secs_f64();
    match (&outcome.error, outcome.frames_sent) {
        (Some(_), _) if outcome.receiver_closed => log.ok(
            "stream",
            began,
            format!("{} frames before the receiver hung up", outcome.frames_sent),
        ),
        (Some(e), _) => log.fail("stream", began, e.clone()),
        (None, 0) => log.fail("stream", began, "no frame was sent".to_owned()),
        (None, n) => log.ok(
            "stream",
            began,
            format!(
                "{n} frames in {secs:.2} s ({:.2} fps)",
                outcome.achieved_fps()
            ),
        ),
    }
    outcome
}

/// Waits until the decoder has output every sent frame, or makes no progress for a while.
async fn drain(app: &App, sampler: &mut Sampler, sent: u64, outcome: &StreamOutcome) {
    let started = Instant::now();
    let mut last = sampler.decoded();
    let mut last_change = Instant::now();
    loop {
        sampler.poll(app);
        let decoded = sampler.decoded();
        if decoded >= sent || outcome.receiver_closed || started.elapsed() > DRAIN_MAX {
            return;
        }
        if decoded != last {
            last = decoded;
            last_change = Instant::now();
        } else if last_change.elapsed() > DRAIN_IDLE {
            return;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

fn fill_video(report: &mut Report, o: &StreamOutcome, sampler: Option<&Sampler>, fps: u32) {
    let v = &mut report.video;
    v.frames_sent = o.frames_sent;
    v.keyframes_sent = o.keyframes_sent;
    v.codec_packets_sent = o.codec_packets_sent;
    v.bytes_sent = o.bytes_sent;
    v.frames_late = o.frames_late;
    v.achieved_fps = (o.achieved_fps() * 100.0).round() / 100.0;
    v.receiver_closed_stream = o.receiver_closed;
    v.sender_error = o.error.clone().filter(|_| !o.receiver_closed);
    if let Some(s) = sampler {
        s.fill(v);
    }
    let streamed = o.finished.duration_since(o.started).as_secs_f64();
    report.sender_cpu_ms_per_s = o
        .cpu
        .filter(|_| streamed > 0.0 && fps > 0)
        .map(|cpu| (cpu.as_secs_f64() * 1e3 / streamed).round());
}

/// The profile's TEARDOWNs, then (local) a check that the receiver went back to idle.
async fn end_session(
    est: &mut Established,
    shape: &ClientShape,
    app: Option<&App>,
    log: &mut StepLog,
) {
    let began = Instant::now();
    let mut sent = Vec::new();
    for which in shape.teardowns {
        if let Err(why) = handshake::teardown(&mut est.client, *which).await {
            log.fail("teardown", began, why);
            return;
        }
        sent.push(which.label());
    }
    let mut detail = format!("TEARDOWN {}", sent.join(", "));
    if let Some(app) = app {
        let deadline = Instant::now() + IDLE_AFTER_TEARDOWN;
        while app.is_busy() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if app.is_busy() {
            log.fail(
                "teardown",
                began,
                format!("{detail}: the receiver is still busy {IDLE_AFTER_TEARDOWN:?} later"),
            );
            return;
        }
        detail.push_str("; receiver idle again");
    }
    log.ok("teardown", began, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_under_test_is_private() {
        use clap::Parser;
        let config = Config::try_parse_from([
            "airglass",
            "--test-stream",
            "--port",
            "7000",
            "--state-dir",
            "/data/airglass",
            "--video-sink",
            "kmssink",
        ])
        .unwrap();
        let local = private_receiver(&config);
        assert_eq!(local.port, 0);
        assert!(local.bind.is_loopback());
        assert!(local.no_mdns);
        assert_eq!(
            local.resolved_status_file(),
            std::path::Path::new("/data/airglass/test-stream-status.json")
        );
        assert_eq!(
            local.video_sink.as_deref(),
            Some("kmssink"),
            "same display path"
        );
    }

    #[test]
    fn wildcard_binds_are_reached_over_loopback() {
        let any6: SocketAddr = "[::]:7000".parse().unwrap();
        assert_eq!(connect_address(any6).to_string(), "127.0.0.1:7000");
        let any4: SocketAddr = "0.0.0.0:5".parse().unwrap();
        assert_eq!(connect_address(any4).to_string(), "127.0.0.1:5");
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(connect_address(v6), v6);
    }

    #[test]
    fn latency_matches_frames_by_count() {
        let t = Instant::now();
        let sent = [t, t + Duration::from_millis(33)];
        let got = [
            t + Duration::from_millis(10),
            t + Duration::from_millis(53),
            t,
        ];
        let p = latencies(&sent, &got, t).unwrap();
        assert_eq!((p.samples, p.p50, p.max), (2, 10.0, 20.0));
        let steady = latencies(&sent, &got, t + Duration::from_millis(1)).unwrap();
        assert_eq!((steady.samples, steady.p50), (1, 20.0));
    }
}

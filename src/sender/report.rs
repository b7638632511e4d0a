//! The `--test-stream` report: each handshake step with its time, what the video path did,
//! latency, and a verdict naming the first failing stage. Printed as text for the operator or
//! as JSON (`--test-stream-json`) for fleet tooling.
//!
//! Owns: [`StepLog`], [`Report`], the health rule ([`Report::judge`]) and both renderings.
//! Must not touch: sockets, the receiver, the terminal (the caller prints).

use serde::Serialize;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Share of sent frames that must come out of the decoder for a healthy run.
pub const MIN_DECODED_SHARE: f64 = 0.9;
/// JSON schema version of the report.
pub const REPORT_VERSION: u32 = 1;

/// One step of the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    /// When the step began, since the test started.
    pub at_ms: f64,
    /// How long the step took.
    pub ms: f64,
    pub detail: String,
}

/// The steps so far, timed from one start.
#[derive(Debug, Clone)]
pub struct StepLog {
    started: Instant,
    pub steps: Vec<Step>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl StepLog {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            steps: Vec::new(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    fn push(&mut self, name: &str, ok: bool, began: Instant, detail: String) {
        self.steps.push(Step {
            name: name.to_owned(),
            ok,
            at_ms: ms(began.saturating_duration_since(self.started)),
            ms: ms(began.elapsed()),
            detail,
        });
    }

    /// A step that began at `began` and succeeded now.
    pub fn ok(&mut self, name: &str, began: Instant, detail: String) {
        self.push(name, true, began, detail);
    }

    /// A step that began at `began` and failed now.
    pub fn fail(&mut self, name: &str, began: Instant, detail: String) {
        tracing::debug!(step = name, %detail, "test-stream step failed");
        self.push(name, false, began, detail);
    }

    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: usize,
}

impl Percentiles {
    /// Nearest-rank percentiles; `None` for no samples.
    pub fn of(mut values: Vec<Duration>) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            ms(values[i])
        };
        Some(Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: ms(values[values.len() - 1]),
            samples: values.len(),
        })
    }
}

/// What was streamed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Content {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: f64,
    pub label: String,
}

/// The video path's numbers. Receiver-side counts are `None` when testing another receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VideoReport {
    /// The receiver's decoder and sink, from its own description (local runs only).
    pub description: Option<String>,
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub codec_packets_sent: u64,
    pub bytes_sent: u64,
    /// Frame slots the sender skipped because it fell behind (its own CPU, or backpressure).
    pub frames_late: u64,
    pub frames_pushed: Option<u64>,
    pub frames_decoded: Option<u64>,
    /// Dropped by the sink (waiting for a keyframe, backlog) plus by the worker's full queue.
    pub frames_dropped: Option<u64>,
    pub errors: Option<u64>,
    pub rebuilds: Option<u64>,
    /// Frames sent per second of streaming.
    pub achieved_fps: f64,
    /// The receiver closed the mirror connection while we were streaming.
    pub receiver_closed_stream: bool,
    /// Why the sender stopped early, if it did.
    pub sender_error: Option<String>,
}

impl VideoReport {
    /// Whether the receiver took the stream: it kept the mirror connection open and (when its
    /// counters are visible) decoded at least [`MIN_DECODED_SHARE`] of the frames with no
    /// decoder error or pipeline rebuild. `Ok` carries a summary, `Err` the reason.
    pub fn decode_check(&self) -> Result<String, String> {
        let Some(decoded) = self.frames_decoded else {
            if self.receiver_closed_stream {
                return Err(format!(
                    "the receiver closed the mirror stream after {} frame(s) (wrong video key?)",
                    self.frames_sent
                ));
            }
            return Ok(
                "the receiver kept the stream open; decoding is not visible from here".to_owned(),
            );
        };
        if self.receiver_closed_stream {
            return Err(format!(
                "the receiver closed the mirror stream after {} frame(s) and decoded {decoded}{}",
                self.frames_sent,
                if decoded == 0 {
                    " (wrong video key?)"
                } else {
                    ""
                }
            ));
        }
        let need = (self.frames_sent as f64 * MIN_DECODED_SHARE).ceil() as u64;
        if decoded < need {
            return Err(format!(
                "{decoded} of {} frames decoded (need {need})",
                self.frames_sent
            ));
        }
        if let Some(r) = self.rebuilds.filter(|r| *r > 0) {
            return Err(format!("{r} pipeline rebuild(s)"));
        }
        if let Some(e) = self.errors.filter(|e| *e > 0) {
            return Err(format!("{e} video error(s)"));
        }
        Ok(format!("{decoded} of {} frames decoded", self.frames_sent))
    }
}

/// Latency figures and what they mean.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyReport {
    pub definition: &'static str,
    /// Sender wrote frame i → the receiver's worker had pushed i+1 frames to the decoder.
    pub send_to_pushed_ms: Option<Percentiles>,
    /// Sender wrote frame i → the receiver's decoder had output i+1 pictures.
    pub send_to_decoded_ms: Option<Percentiles>,
    /// From the start of the TCP connect to the first decoded picture.
    pub connect_to_first_decoded_ms: Option<f64>,
}

/// The timing exchange as the sender saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimingReport {
    pub answers: bool,
    pub requests: u64,
    pub replies: u64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub version: u32,
    pub target: String,
    /// Whether the receiver ran in this process (`--test-stream`) or elsewhere.
    pub local_receiver: bool,
    pub receiver_name: Option<String>,
    pub profile: String,
    pub user_agent: String,
    pub content: Content,
    pub paired: Option<bool>,
    pub fairplay_mode: u8,
    pub steps: Vec<Step>,
    pub video: VideoReport,
    pub latency: LatencyReport,
    pub timing: Option<TimingReport>,
    /// CPU the sender's stream thread used (render, encode, encrypt, write) per streamed second.
    pub sender_cpu_ms_per_s: Option<f64>,
    /// Audio is not streamed by this test yet.
    pub audio: &'static str,
    pub healthy: bool,
    /// The first failing stage, `None` when healthy.
    pub failed_stage: Option<String>,
    pub verdict: String,
}

impl Report {
    /// Applies the health rule and fills `healthy`, `failed_stage` and `verdict`: the run is
    /// healthy when every step is ok; the first failed step names the stage. The runner records
    /// the stream and decode outcomes as steps (see [`VideoReport::decode_check`]).
    pub fn judge(&mut self) {
        let failure = self
            .steps
            .iter()
            .find(|s| !s.ok)
            .map(|s| (s.name.clone(), s.detail.clone()))
            .or_else(|| {
                (!self.steps.iter().any(|s| s.name == "decode"))
                    .then(|| ("decode".to_owned(), "the stream never ran".to_owned()))
            });
        self.healthy = failure.is_none();
        match failure {
            Some((stage, why)) => {
                self.verdict = format!("UNHEALTHY: failed at {stage}: {why}");
                self.failed_stage = Some(stage);
            }
            None => {
                self.failed_stage = None;
                self.verdict = match self.video.frames_decoded {
                    Some(d) => format!("HEALTHY: {d} of {} frames decoded", self.video.frames_sent),
                    None => format!(
                        "HEALTHY as far as a sender can tell: {} frames accepted (decoding not visible from here)",
                        self.video.frames_sent
                    ),
                };
            }
        }
    }

    /// JSON for fleet tooling.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The operator's text report.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let name = self.receiver_name.as_deref().unwrap_or("?");
        let _ = writeln!(
            o,
            "airglass test stream -> {name} at {} ({}), profile {} ({})",
            self.target,
            if self.local_receiver {
                "receiver in this process"
            } else {
                "remote receiver"
            },
            self.profile,
            self.user_agent
        );
        let c = &self.content;
        let _ = writeln!(
            o,
            "content: {}x{}@{} for {} s, FairPlay mode {}{}",
            c.width,
            c.height,
            c.fps,
            c.seconds,
            self.fairplay_mode,
            match self.paired {
                Some(true) => ", paired",
                _ => "",
            }
        );
        let _ = writeln!(o, "steps:");
        for s in &self.steps {
            let _ = writeln!(
                o,
                "  {:<14} {:<4} {:>9.1} ms  (at {:>8.1} ms)  {}",
                s.name,
                if s.ok { "ok" } else { "FAIL" },
                s.ms,
                s.at_ms,
                s.detail
            );
        }
        let v = &self.video;
        let opt = |x: Option<u64>| x.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        if let Some(d) = &v.description {
            let _ = writeln!(o, "video path: {d}");
        }
        let _ = writeln!(
            o,
            "frames: sent {} ({} keyframes, {} codec packets, {} kB), pushed {}, decoded {}, dropped {}, errors {}, rebuilds {}",
            v.frames_sent,
            v.keyframes_sent,
            v.codec_packets_sent,
            v.bytes_sent / 1000,
            opt(v.frames_pushed),
            opt(v.frames_decoded),
            opt(v.frames_dropped),
            opt(v.errors),
            opt(v.rebuilds)
        );
        let _ = writeln!(
            o,
            "rate: {:.2} fps achieved of {} requested{}",
            v.achieved_fps,
            c.fps,
            if v.frames_late > 0 {
                format!(
                    " ({} frame slots skipped: the sender fell behind)",
                    v.frames_late
                )
            } else {
                String::new()
            }
        );
        let l = &self.latency;
        let pct = |p: &Option<Percentiles>| match p {
            Some(p) => format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
                p.p50, p.p99, p.max, p.samples
            ),
            None => "unknown".to_owned(),
        };
        let _ = writeln!(o, "latency send->pushed:  {}", pct(&l.send_to_pushed_ms));
        let _ = writeln!(o, "latency send->decoded: {}", pct(&l.send_to_decoded_ms));
        if let Some(f) = l.connect_to_first_decoded_ms {
            let _ = writeln!(o, "connect -> first decoded picture: {f:.1} ms");
        }
        let _ = writeln!(o, "  ({})", l.definition);
        if let Some(t) = &self.timing {
            let _ = writeln!(
                o,
                "timing: {} requests from the receiver, {} answered{}",
                t.requests,
                t.replies,
                if t.answers {
                    ""
                } else {
                    " (this profile never answers, like macOS 15.2+)"
                }
            );
        }
        if let Some(cpu) = self.sender_cpu_ms_per_s {
            let _ = writeln!(o, "sender CPU: {cpu:.0} ms per streamed second");
        }
        let _ = writeln!(o, "audio: {}", self.audio);
        let _ = writeln!(o, "verdict: {}", self.verdict);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut log = StepLog::new(Instant::now());
        log.ok("connect", Instant::now(), "tcp".into());
        Report {
            version: REPORT_VERSION,
            target: "127.0.0.1:7000".into(),
            local_receiver: true,
            receiver_name: Some("TV".into()),
            profile: "ios17".into(),
            user_agent: "AirPlay/770.8.1".into(),
            content: Content {
                width: 640,
                height: 360,
                fps: 30,
                seconds: 3.0,
                label: "x".into(),
            },
            paired: Some(false),
            fairplay_mode: 1,
            steps: log.steps,
            video: VideoReport {
                frames_sent: 90,
                frames_decoded: Some(90),
                rebuilds: Some(0),
                errors: Some(0),
                ..VideoReport::default()
            },
            latency: LatencyReport {
                definition: "d",
                send_to_pushed_ms: None,
                send_to_decoded_ms: None,
                connect_to_first_decoded_ms: None,
            },
            timing: None,
            sender_cpu_ms_per_s: None,
            audio: "not streamed",
            healthy: false,
            failed_stage: None,
            verdict: String::new(),
        }
    }

    #[test]
    fn decode_check_applies_the_health_rule() {
        let v = report().video;
        assert!(v.decode_check().is_ok());
        let mut w = v.clone();
        w.frames_decoded = Some(80);
        assert!(w.decode_check().unwrap_err().contains("80 of 90"));
        w.frames_decoded = Some(81);
        assert!(w.decode_check().is_ok(), "81 of 90 is exactly 90 %");
        let mut w = v.clone();
        w.rebuilds = Some(1);
        assert!(w.decode_check().unwrap_err().contains("rebuild"));
        let mut w = v.clone();
        w.errors = Some(2);
        assert!(w.decode_check().is_err());
        let mut w = v.clone();
        w.receiver_closed_stream = true;
        w.frames_decoded = Some(0);
        assert!(w.decode_check().unwrap_err().contains("wrong video key"));
        let mut w = v;
        w.frames_decoded = None;
        assert!(
            w.decode_check().is_ok(),
            "remote: unknown decode counts are not a failure"
        );
        w.receiver_closed_stream = true;
        assert!(w.decode_check().is_err());
    }

    #[test]
    fn the_verdict_names_the_first_failing_stage() {
        let mut r = report();
        let t = Instant::now();
        let mut log = StepLog::new(t);
        log.ok("connect", t, String::new());
        log.ok("decode", t, String::new());
        r.steps = log.steps.clone();
        r.judge();
        assert!(r.healthy, "{}", r.verdict);
        assert_eq!(r.failed_stage, None);
        assert!(r.verdict.starts_with("HEALTHY"));

        let mut r = report();
        r.judge();
        assert_eq!(
            r.failed_stage.as_deref(),
            Some("decode"),
            "no decode step means the stream never ran"
        );

        let mut r = report();
        log.fail("setup", t, "409".into());
        log.fail("teardown", t, "later".into());
        r.steps = log.steps;
        r.judge();
        assert_eq!(r.failed_stage.as_deref(), Some("setup"));
        assert!(r.verdict.contains("409"));
        assert!(r.to_text().contains("FAIL"));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["failed_stage"], "setup");
        assert_eq!(json["healthy"], false);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(v).unwrap();
        assert_eq!((p.p50, p.p99, p.max, p.samples), (50.0, 99.0, 100.0, 100));
        assert_eq!(Percentiles::of(Vec::new()), None);
        let one = Percentiles::of(vec![Duration::from_micros(1500)]).unwrap();
        assert_eq!((one.p50, one.p99), (1.5, 1.5));
    }
}

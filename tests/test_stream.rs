//! `airglass --test-stream` end to end: the real binary starts the real receiver (GStreamer
//! decoding into fakesink) and streams the built-in sender's test pattern to it over
//! loopback; the JSON report must agree with itself and name the failing stage when something
//! is wrong. Also: every client profile, a receiver that wants pairing, and a whole session
//! over IPv6 against a separate receiver process.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_airglass");
/// Small enough that several runs in parallel keep pace on a shared 2-core machine.
const SIZE: &str = "320x180@30";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "report is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary with the common receiver flags plus `args`, killing it after a minute.
fn airglass(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--port",
        "0",
        "--no-mdns",
        "--state-dir",
        dir.path().to_str().unwrap(),
        "--video-sink",
        "fakesink",
        "--test-stream-size",
        SIZE,
    ])
    .args(args)
    .env("NO_COLOR", "1")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("airglass runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("airglass {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {report:#}"))
}

fn step_names(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

/// The checks every healthy local run must pass.
fn assert_healthy_local(run: &Run, seconds: u64) -> Value {
    let r = run.json();
    assert_eq!(run.code, 0, "{:#}\nstderr:\n{}", r, run.stderr);
    assert_eq!(r["healthy"], true);
    assert_eq!(r["failed_stage"], Value::Null);
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true)
    );
    let v = &r["video"];
    let sent = u(&v["frames_sent"]);
    let slots = seconds * 30;
    assert_eq!(
        sent + u(&v["frames_late"]),
        slots,
        "every frame slot is sent or skipped"
    );
    assert!(sent >= slots * 8 / 10, "only {sent} of {slots} frames sent");
    assert_eq!(
        u(&v["frames_decoded"]),
        sent,
        "loopback decodes every frame"
    );
    assert_eq!(u(&v["frames_pushed"]), sent);
    assert_eq!(u(&v["frames_dropped"]), 0);
    assert_eq!(u(&v["errors"]), 0);
    assert_eq!(u(&v["rebuilds"]), 0);
    assert_eq!(u(&v["codec_packets_sent"]), 1, "parameters never change");
    assert!(u(&v["keyframes_sent"]) >= 1);
    assert!(v["description"].as_str().unwrap().contains("sink fakesink"));
    assert_eq!(r["local_receiver"], true);
    assert!(
        r["content"]["label"]
            .as_str()
            .unwrap()
            .starts_with("AIRGLASS TEST \u{2192} ")
    );
    r
}

#[test]
fn test_stream_decodes_every_frame_and_reports_consistent_numbers() {
    let run = airglass(&["--test-stream=3", "--test-stream-json"]);
    let r = assert_healthy_local(&run, 3);
    assert_eq!(
        step_names(&r),
        [
            "connect",
            "info",
            "fp-setup-1",
            "fp-setup-2",
            "setup",
            "info-full",
            "record",
            "volume",
            "setup-video",
            "mirror-connect",
            "feedback",
            "stream",
            "decode",
            "teardown"
        ]
    );
    assert_eq!(
        r["paired"], false,
        "the default receiver does not ask for pairing"
    );
    let fps = r["video"]["achieved_fps"].as_f64().unwrap();
    assert!((20.0..=33.0).contains(&fps), "achieved {fps} fps");
    let l = &r["latency"];
    let pushed = l["send_to_pushed_ms"]["p50"].as_f64().unwrap();
    let decoded = l["send_to_decoded_ms"]["p50"].as_f64().unwrap();
    assert!(
        decoded >= pushed,
        "a frame is decoded after it is pushed: {l:#}"
    );
    assert!(l["send_to_decoded_ms"]["p99"].as_f64().unwrap() >= decoded);
    let first = l["connect_to_first_decoded_ms"].as_f64().unwrap();
    assert!(first > 0.0 && first < 10_000.0, "{first}");
    let t = &r["timing"];
    assert_eq!(t["answers"], true);
    assert!(
        u(&t["requests"]) >= 1,
        "the receiver polls right after SETUP"
    );
    // A poll may land between the count of its request and the count of its reply.
    assert!(
        u(&t["replies"]) + 1 >= u(&t["requests"]) && u(&t["replies"]) >= 1,
        "{t}"
    );
    assert!(r["sender_cpu_ms_per_s"].as_f64().unwrap() > 0.0);
    let feedback = step(&r, "feedback")["detail"].as_str().unwrap();
    let sent: u64 = feedback.split_whitespace().next().unwrap().parse().unwrap();
    assert!(sent >= 3, "one /feedback a second: {feedback}");
}

#[test]
fn a_closed_port_fails_at_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let target = format!("127.0.0.1:{port}");
    let run = airglass(&["--test-stream-target", &target, "--test-stream-json"]);
    let r = run.json();
    assert_eq!(run.code, 1, "{r:#}");
    assert_eq!(r["healthy"], false);
    assert_eq!(r["failed_stage"], "connect");
    assert_eq!(r["local_receiver"], false);
    assert_eq!(r["target"], target.as_str());
    assert!(r["verdict"].as_str().unwrap().contains("failed at connect"));
    assert_eq!(u(&r["video"]["frames_sent"]), 0);
    assert_eq!(r["video"]["frames_decoded"], Value::Null);

    let text = airglass(&["--test-stream-target", &target]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("connect        FAIL"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("verdict: UNHEALTHY: failed at connect"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_wrong_key_fails_at_decode() {
    let run = airglass(&[
        "--test-stream=2",
        "--test-stream-json",
        "--test-stream-fault",
        "corrupt-ekey",
    ]);
    let r = run.json();
    assert_eq!(run.code, 1, "{r:#}");
    assert_eq!(r["healthy"], false);
    let stage = r["failed_stage"].as_str().unwrap();
    assert_eq!(stage, "decode", "{r:#}");
    assert!(r["verdict"].as_str().unwrap().contains("wrong video key"));
    // The handshake itself went through: FairPlay cannot tell a wrong key from a right one.
    for name in ["fp-setup-2", "setup", "setup-video", "mirror-connect"] {
        assert_eq!(step(&r, name)["ok"], true, "{name}");
    }
    assert_eq!(u(&r["video"]["frames_decoded"]), 0);
    assert_eq!(r["video"]["receiver_closed_stream"], true);
}

fn profile_run(profile: &str) -> Value {
    let run = airglass(&[
        "--test-stream=2",
        "--test-stream-json",
        "--test-stream-profile",
        profile,
    ]);
    let r = assert_healthy_local(&run, 2);
    assert_eq!(r["profile"], profile);
    r
}

#[test]
fn profile_ios17_sends_three_teardowns() {
    let r = profile_run("ios17");
    assert_eq!(r["user_agent"], "AirPlay/770.8.1");
    let detail = step(&r, "teardown")["detail"].as_str().unwrap();
    assert!(detail.starts_with("TEARDOWN 96, 110, plain"), "{detail}");
    assert!(detail.contains("receiver idle again"));
}

#[test]
fn profile_ios26_ends_with_a_typeless_teardown() {
    let r = profile_run("ios26");
    assert!(
        r["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("AirPlay/930.")
    );
    let detail = step(&r, "teardown")["detail"].as_str().unwrap();
    assert!(detail.starts_with("TEARDOWN plain;"), "{detail}");
    assert!(detail.contains("receiver idle again"), "{detail}");
}

#[test]
fn profile_ios27_gets_info_from_the_combined_setup() {
    let r = profile_run("ios27");
    assert!(
        r["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("AirPlay/980.")
    );
    let setup = step(&r, "setup")["detail"].as_str().unwrap();
    assert!(setup.contains("combined info with 1 display"), "{setup}");
    assert!(
        !step_names(&r).contains(&"info-full".to_owned()),
        "iOS 27 gets /info inside SETUP"
    );
    assert!(r["receiver_name"].is_string());
}

#[test]
fn profile_macos_never_answers_timing_and_still_decodes() {
    let r = profile_run("macos");
    let t = &r["timing"];
    assert_eq!(t["answers"], false);
    assert!(u(&t["requests"]) >= 1);
    assert_eq!(u(&t["replies"]), 0);
}

#[test]
fn a_receiver_that_wants_pairing_gets_pair_verify_and_the_hashed_key() {
    let run = airglass(&["--test-stream=2", "--test-stream-json", "--pairing"]);
    let r = assert_healthy_local(&run, 2);
    assert_eq!(r["paired"], true);
    let names = step_names(&r);
    let at = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(at("info") < at("pair-setup"));
    assert!(at("pair-setup") < at("pair-verify"));
    assert!(at("pair-verify") < at("fp-setup-1"));
}

#[test]
fn a_whole_session_over_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--bind",
            "::",
            "--no-mdns",
            "--state-dir",
            dir.path().to_str().unwrap(),
            "--video-sink",
            "fakesink",
            "--log",
            "info",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (port_tx, port_rx) = mpsc::channel();
    let stderr = receiver.stderr.take().unwrap();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("airglass is ready")
                && let Some(p) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("port="))
            {
                let _ = port_tx.send(p.parse::<u16>().unwrap());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the receiver says which port it listens on");
    let target = format!("[::1]:{port}");
    let run = airglass(&[
        "--test-stream=2",
        "--test-stream-target",
        &target,
        "--test-stream-json",
    ]);
    let r = run.json();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && !log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("session ended (TEARDOWN)"))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    let log = log.lock().unwrap().join("\n");
    assert_eq!(run.code, 0, "{r:#}\nreceiver log:\n{log}");
    assert_eq!(r["target"], target.as_str());
    assert_eq!(r["local_receiver"], false);
    assert_eq!(
        r["video"]["frames_decoded"],
        Value::Null,
        "not visible remotely"
    );
    assert!(u(&r["video"]["frames_sent"]) > 0);
    assert!(
        step(&r, "mirror-connect")["detail"]
            .as_str()
            .unwrap()
            .contains("[::1]:")
    );
    for wanted in [
        "peer=[::1]",
        "mirror stream connected",
        "video started",
        "session ended (TEARDOWN)",
    ] {
        assert!(
            log.contains(wanted),
            "receiver log lacks {wanted:?}:\n{log}"
        );
    }
    assert!(!log.contains("unusable mirror packet"), "{log}");
}

//! Issue 2's "done when", end to end: the real `airglass` binary starts with pairing on,
//! advertises over mDNS (seen by mdns-sd's own browser on a private loopback-only network),
//! and a scripted client (the built-in sender, pointed at the advertised port) gets through
//! pair-setup, pair-verify, fp-setup, SETUP and the mirror SETUP and streams video (the audio
//! SETUP is checked over a real socket in `control_server.rs`). SIGTERM then withdraws the
//! advertisement and exits 0.

mod common;

use common::netns::isolated;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "Netns TV";
const WAIT: Duration = Duration::from_secs(15);

#[test]
fn the_binary_advertises_and_a_paired_client_streams_to_the_advertised_port() {
    if !isolated("the_binary_advertises_and_a_paired_client_streams_to_the_advertised_port") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let browser = ServiceDaemon::new().unwrap();
    browser
        .enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
        .unwrap();
    let events = browser.browse("_airplay._tcp.local.").unwrap();

    let mut receiver = Command::new(env!("CARGO_BIN_EXE_airglass"))
        .args([
            "--name",
            NAME,
            "--port",
            "0",
            "--pairing",
            "--mdns-loopback",
        ])
        .args(["--video-sink", "fakesink", "--log", "airglass=info"])
        .arg("--state-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = receiver.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // The advertisement carries the real port and the pairing bit.
    let fullname = format!("{NAME}._airplay._tcp.local.");
    let deadline = Instant::now() + WAIT;
    let service = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) if s.fullname == fullname => break s,
            Ok(_) => {}
            Err(e) => panic!("{fullname} never resolved: {e}"),
        }
    };
    let port = service.get_port();
    assert_ne!(port, 0);
    let features = service.get_property_val_str("features").unwrap().to_owned();
    let low = u64::from_str_radix(
        features.split(',').next().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_ne!(low & (1 << 27), 0, "pairing advertised: {features}");

    let run = Command::new(env!("CARGO_BIN_EXE_airglass"))
        .args([
            "--test-stream=2",
            "--test-stream-json",
            "--test-stream-size",
            "320x180@30",
        ])
        .arg("--test-stream-target")
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "report is JSON ({e}): {}",
            String::from_utf8_lossy(&run.stdout)
        )
    });

    // Stop the receiver: the advertisement is withdrawn and it exits cleanly.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(receiver.id() as i32, libc::SIGTERM) };
    let removed = loop {
        match events.recv_timeout(WAIT) {
            Ok(ServiceEvent::ServiceRemoved(_, name)) if name == fullname => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    let status = receiver.wait().unwrap();
    let log = log.join().unwrap().join("\n");

    assert_eq!(
        run.status.code(),
        Some(0),
        "{report:#}\nreceiver log:\n{log}"
    );
    assert_eq!(report["paired"], true, "the client paired");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == true)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for want in [
        "pair-setup",
        "pair-verify",
        "fp-setup-2",
        "setup",
        "setup-video",
        "mirror-connect",
        "stream",
    ] {
        assert!(steps.contains(&want), "step {want} missing from {steps:?}");
    }
    assert!(report["video"]["frames_sent"].as_u64().unwrap() > 0);
    assert!(log.contains("client profile:"), "{log}");
    assert!(removed, "the advertisement was withdrawn on SIGTERM");
    assert_eq!(status.code(), Some(0), "{log}");
}

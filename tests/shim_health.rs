//! `airglass-shim health` (the container HEALTHCHECK) against status files written
//! by the test, and the status file parser behind it.

mod shim_common;

use std::path::Path;
use std::process::Command;

use airglass::shim::health::{HealthLimits, ReceiverState, Verdict, judge, parse_status};
use shim_common::SHIM;

fn now_ms() -> u64 {
    airglass::shim::health::wall_clock_unix_ms()
}

fn status_json(pid: u32, state: &str, since_ago_ms: u64, updated_ago_ms: u64) -> String {
    let now = now_ms();
    format!(
        r#"{{"version":1,"pid":{pid},"state":"{state}","client":"iPhone (iPhone15,2)","since_unix_ms":{},"updated_unix_ms":{}}}"#,
        now - since_ago_ms,
        now - updated_ago_ms
    )
}

/// Run `airglass-shim health` with the status file found through `env`.
fn health(env: &[(&str, &Path)]) -> (i32, String) {
    let mut command = Command::new(SHIM);
    command.arg("health").env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run health");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

#[test]
fn health_follows_the_status_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("status.json");
    let me = std::process::id();
    let env = [("AIRGLASS_STATUS_FILE", file.as_path())];

    let (code, line) = health(&env);
    assert_eq!((code, line.contains("missing")), (1, true), "{line}");

    let cases: [(&str, String, i32, &str); 7] = [
        (
            "fresh idle",
            status_json(me, "idle", 3_600_000, 1_000),
            0,
            "healthy",
        ),
        (
            "fresh mirroring",
            status_json(me, "mirroring", 5_000, 0),
            0,
            "healthy",
        ),
        (
            "starting briefly",
            status_json(me, "starting", 20_000, 0),
            0,
            "healthy",
        ),
        (
            "stale",
            status_json(me, "idle", 60_000, 15_000),
            1,
            "last updated",
        ),
        (
            "stuck starting",
            status_json(me, "starting", 120_000, 0),
            1,
            "starting for",
        ),
        (
            "dead pid",
            status_json(u32::MAX / 2, "idle", 0, 0),
            1,
            "is gone",
        ),
        (
            "garbage",
            "{\"version\":1,\"pid\":".to_string(),
            1,
            "not valid",
        ),
    ];
    for (name, json, want, says) in cases {
        std::fs::write(&file, json).expect("write status");
        let (code, line) = health(&env);
        assert_eq!(code, want, "{name}: {line}");
        assert!(line.contains(says), "{name}: {line}");
    }
}

#[test]
fn health_finds_the_status_file_in_the_state_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("status.json"),
        status_json(std::process::id(), "idle", 0, 0),
    )
    .expect("write");
    assert_eq!(health(&[("AIRGLASS_STATE_DIR", dir.path())]).0, 0);
    let other = tempfile::tempdir().expect("tempdir");
    assert_eq!(health(&[("AIRGLASS_STATE_DIR", other.path())]).0, 1);
}

#[test]
fn the_parser_accepts_the_contract_and_rejects_the_rest() {
    let good = br#"{"version":1,"pid":1234,"state":"mirroring","client":"iPhone (iPhone15,2)","since_unix_ms":5,"updated_unix_ms":6,"future_field":true}"#;
    let status = parse_status(good).expect("valid");
    assert_eq!(status.pid, 1234);
    assert_eq!(status.state, ReceiverState::Mirroring);
    assert_eq!(status.client.as_deref(), Some("iPhone (iPhone15,2)"));
    let null_client = br#"{"version":1,"pid":1,"state":"idle","client":null,"since_unix_ms":0,"updated_unix_ms":0}"#;
    assert_eq!(parse_status(null_client).expect("valid").client, None);

    let rejects: [&[u8]; 6] = [
        br#"{"version":2,"pid":1,"state":"idle","client":null,"since_unix_ms":0,"updated_unix_ms":0}"#,
        br#"{"version":1,"pid":1,"state":"dancing","client":null,"since_unix_ms":0,"updated_unix_ms":0}"#,
        br#"{"version":1,"pid":-1,"state":"idle","client":null,"since_unix_ms":0,"updated_unix_ms":0}"#,
        br#"{"version":1,"state":"idle","client":null,"since_unix_ms":0,"updated_unix_ms":0}"#,
        b"",
        b"\xff\xfe",
    ];
    for bad in rejects {
        assert!(
            parse_status(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn judge_uses_the_limits_it_is_given() {
    let status = parse_status(
        br#"{"version":1,"pid":1,"state":"starting","client":null,"since_unix_ms":1000,"updated_unix_ms":5000}"#,
    )
    .expect("valid");
    let limits = HealthLimits::default();
    assert_eq!(judge(&status, 15_000, &limits), Verdict::Healthy);
    assert!(matches!(
        judge(&status, 15_001, &limits),
        Verdict::Unhealthy(_)
    ));
    // A clock behind the file's own timestamps is not "stale".
    assert_eq!(judge(&status, 0, &limits), Verdict::Healthy);
    let strict = HealthLimits {
        max_age: std::time::Duration::from_secs(60),
        max_starting: std::time::Duration::from_secs(2),
    };
    assert!(
        matches!(judge(&status, 3_001, &strict), Verdict::Unhealthy(r) if r.contains("starting"))
    );
    assert_eq!(judge(&status, 3_000, &strict), Verdict::Healthy);
}

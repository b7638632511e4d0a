//! The real `airglass-shim` binary supervising fake receivers (shell scripts):
//! restarts with backoff, the stop on configuration errors, signal forwarding,
//! zombie reaping, the watchdog, and the receiver's environment.

mod shim_common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use shim_common::{STATUS_FN, Shim, lines, script, wait_for};

fn runs(dir: &Path) -> Vec<u128> {
    lines(&dir.join("runs"))
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_crashing_receiver_is_restarted_with_growing_capped_backoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Runs 1-3 crash at once; run 4 lives past the healthy mark, then crashes.
    let child = script(
        dir.path(),
        "crash.sh",
        r#"echo "$(date +%s%N)" >> "$TEST_DIR/runs"
n=$(wc -l < "$TEST_DIR/runs")
if [ "$n" -eq 4 ]; then sleep 0.6; fi
echo "receiver run $n failing" >&2
exit 70"#,
    );
    let mut shim = Shim::start(
        dir.path(),
        &child,
        &[
            ("AIRGLASS_SHIM_BACKOFF_MS", "100"),
            ("AIRGLASS_SHIM_BACKOFF_MAX_MS", "200"),
            ("AIRGLASS_SHIM_HEALTHY_MS", "400"),
        ],
    );
    assert!(
        wait_for(Duration::from_secs(15), || runs(dir.path()).len() >= 6),
        "only {} runs; log:\n{}",
        runs(dir.path()).len(),
        shim.log()
    );
    let status = shim.stop().expect("shim exits on SIGTERM");
    assert_eq!(
        status.code(),
        Some(70),
        "exit status is the last receiver's"
    );

    let log = shim.log();
    let said: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("restarting in ").nth(1))
        .collect();
    assert!(said.len() >= 5, "log:\n{log}");
    assert_eq!(
        said.get(..5).unwrap_or_default(),
        [
            "100ms (failure 1)",
            "200ms (failure 2)",
            "200ms (failure 3)",
            // Run 4 was healthy long enough: the backoff starts over.
            "100ms (failure 1)",
            "200ms (failure 2)",
        ]
    );
    // The waits really happened: each gap is at least the announced delay.
    let times = runs(dir.path());
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    for (gap, least) in gaps.iter().zip([100, 200, 200, 600 + 100, 200]) {
        assert!(*gap >= least, "gaps {gaps:?} ms");
    }
}

#[test]
fn a_configuration_error_stops_the_restarts_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = script(
        dir.path(),
        "badconfig.sh",
        r#"echo run >> "$TEST_DIR/runs"
echo "error: AIRGLASS_RESOLUTION must be WxH@HZ" >&2
exit 78"#,
    );
    let mut shim = Shim::start(dir.path(), &child, &[]);
    assert!(wait_for(Duration::from_secs(5), || shim
        .log()
        .contains("not restarting")));
    // Well past several backoff periods: still one run, and the shim still up.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(lines(&dir.path().join("runs")).len(), 1);
    assert!(shim.child.try_wait().ok().flatten().is_none(), "shim left");
    let log = shim.log();
    assert!(
        log.contains("exited with code 78 (a configuration error)"),
        "log:\n{log}"
    );
    assert!(
        log.contains("AIRGLASS_RESOLUTION must be"),
        "receiver's own message kept"
    );

    let status = shim.stop().expect("shim exits on SIGTERM");
    assert_eq!(status.code(), Some(78));
}

#[test]
fn sigterm_and_sigint_are_forwarded_and_the_childs_status_returned() {
    for (signal, name, code) in [(libc::SIGTERM, "TERM", 42), (libc::SIGINT, "INT", 43)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = script(
            dir.path(),
            "trap.sh",
            &format!(
                r#"trap 'echo "got {name}" > "$TEST_DIR/marker"; exit {code}' {name}
echo ready > "$TEST_DIR/ready"
while [ -d "$TEST_DIR" ]; do sleep 0.05; done"#
            ),
        );
        let mut shim = Shim::start(dir.path(), &child, &[]);
        assert!(wait_for(Duration::from_secs(5), || dir
            .path()
            .join("ready")
            .exists()));
        shim.signal(signal);
        let status = shim.wait(Duration::from_secs(5)).expect("shim exits");
        assert_eq!(status.code(), Some(code), "log:\n{}", shim.log());
        assert_eq!(lines(&dir.path().join("marker")), [format!("got {name}")]);
    }
}

#[test]
fn a_receiver_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = script(
        dir.path(),
        "stubborn.sh",
        r#"trap '' TERM
echo ready > "$TEST_DIR/ready"
while [ -d "$TEST_DIR" ]; do sleep 0.05; done"#,
    );
    let mut shim = Shim::start(
        dir.path(),
        &child,
        &[("AIRGLASS_SHIM_STOP_GRACE_MS", "300")],
    );
    assert!(wait_for(Duration::from_secs(5), || dir
        .path()
        .join("ready")
        .exists()));
    shim.signal(libc::SIGTERM);
    let status = shim.wait(Duration::from_secs(5)).expect("shim exits");
    assert_eq!(status.code(), Some(128 + libc::SIGKILL));
    assert!(shim.log().contains("did not stop within 300ms"));
}

/// (state, parent pid) of a process, from /proc.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let after = text.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn zombie_children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| proc_stat(pid) == Some(('Z', parent)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn orphaned_grandchildren_are_adopted_and_reaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = script(
        dir.path(),
        "orphans.sh",
        r#"sh -c 'sleep 30 & echo $! > "$TEST_DIR/orphan.pid"'
for i in 1 2 3 4 5; do sh -c 'sleep 0.1 &'; done
echo ready > "$TEST_DIR/ready"
while [ -d "$TEST_DIR" ]; do sleep 0.05; done"#,
    );
    let mut shim = Shim::start(dir.path(), &child, &[]);
    assert!(wait_for(Duration::from_secs(5), || dir
        .path()
        .join("ready")
        .exists()));
    let orphan: u32 = lines(&dir.path().join("orphan.pid"))
        .first()
        .and_then(|l| l.trim().parse().ok())
        .expect("orphan pid");
    // The orphan's parent died at once; the shim adopted it.
    assert!(
        wait_for(Duration::from_secs(3), || proc_stat(orphan)
            .is_some_and(|(_, ppid)| ppid == shim.pid())),
        "orphan {orphan} not adopted: {:?}",
        proc_stat(orphan)
    );
    // The short-lived orphans ended and left no zombies behind.
    assert!(
        wait_for(Duration::from_secs(3), || shim
            .log()
            .matches("reaped an orphan")
            .count()
            >= 5),
        "log:\n{}",
        shim.log()
    );
    assert_eq!(zombie_children(shim.pid()), Vec::<u32>::new());
    // Killing the adopted orphan makes it a zombie only until the shim reaps it.
    shim_common::send(orphan, libc::SIGKILL);
    assert!(
        wait_for(Duration::from_secs(3), || proc_stat(orphan).is_none()),
        "orphan left as {:?}",
        proc_stat(orphan)
    );
    assert_eq!(zombie_children(shim.pid()), Vec::<u32>::new());
    let status = shim.stop().expect("shim exits");
    assert_eq!(status.signal(), None);
}

#[test]
fn the_watchdog_restarts_a_receiver_whose_status_goes_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A "hung" receiver: alive, but its status says it was last updated 30 s ago.
    let child = script(
        dir.path(),
        "hung.sh",
        &format!(
            r#"{STATUS_FN}
echo run >> "$TEST_DIR/runs"
while [ -d "$TEST_DIR" ]; do status idle 30000; sleep 0.1; done"#
        ),
    );
    let mut shim = Shim::start(dir.path(), &child, &[("AIRGLASS_SHIM_WATCHDOG_MS", "300")]);
    assert!(
        wait_for(Duration::from_secs(10), || lines(&dir.path().join("runs"))
            .len()
            >= 2),
        "log:\n{}",
        shim.log()
    );
    assert!(shim.log().contains("unresponsive"), "log:\n{}", shim.log());
    assert!(shim.log().contains("last updated"));
    shim.stop().expect("shim exits");
}

#[test]
fn the_receiver_gets_the_arguments_and_a_cleaned_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = script(
        dir.path(),
        "env.sh",
        r#"{
  echo "args=$*"
  echo "name=$AIRGLASS_NAME"
  echo "state=$AIRGLASS_STATE_DIR"
  echo "sink=${AIRGLASS_VIDEO_SINK-unset}"
  echo "fps=${AIRGLASS_FPS-unset}"
} > "$TEST_DIR/env"
exit 0"#,
    );
    let mut shim = Shim::start(
        dir.path(),
        &child,
        &[("AIRGLASS_VIDEO_SINK", " "), ("AIRGLASS_FPS", "30")],
    );
    let status = shim
        .wait(Duration::from_secs(5))
        .expect("clean exit ends the shim");
    assert_eq!(status.code(), Some(0));
    let state = dir.path().join("state");
    assert!(state.is_dir(), "state directory created");
    assert_eq!(
        lines(&dir.path().join("env")),
        [
            "args=".to_string(),
            "name=test receiver".to_string(),
            format!("state={}", state.display()),
            // A blank variable is dropped so the receiver's default applies.
            "sink=unset".to_string(),
            "fps=30".to_string(),
        ]
    );

    // `airglass-shim run ARGS` and plain `airglass-shim ARGS` both pass ARGS on.
    for prefix in [&["run"][..], &[][..]] {
        let log = dir.path().join("shim2.log");
        let status = std::process::Command::new(shim_common::SHIM)
            .args(prefix)
            .args(["--port", "7100", "--test-stream=3"])
            .env("AIRGLASS_SHIM_CHILD", &child)
            .env("AIRGLASS_STATE_DIR", &state)
            .env("AIRGLASS_NAME", "x")
            .env("BALENA_APP_LOCK_PATH", dir.path().join("updates.lock"))
            .env("TEST_DIR", dir.path())
            .stderr(std::fs::File::create(&log).expect("log"))
            .status()
            .expect("run shim");
        assert_eq!(status.code(), Some(0));
        assert_eq!(
            lines(&dir.path().join("env")).first().map(String::as_str),
            Some("args=--port 7100 --test-stream=3")
        );
    }
}

#[test]
fn a_missing_receiver_program_is_reported_once_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-airglass");
    let mut shim = Shim::start(dir.path(), &missing, &[]);
    assert!(wait_for(Duration::from_secs(5), || shim
        .log()
        .contains("not retrying")));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(shim.log().matches("cannot start the receiver").count(), 1);
    let status = shim.stop().expect("shim exits");
    assert_eq!(status.code(), Some(0));
}

//! The balena update lock as the real `airglass-shim` handles it: taken while a fake
//! receiver's status file says "mirroring", released when it goes idle, a stale
//! lock of ours removed at start, a foreign one left alone, and the time bound.

mod shim_common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use shim_common::{STATUS_FN, Shim, script, wait_for};

/// A fake receiver that reports "mirroring" unless `$TEST_DIR/idle` exists.
fn mirroring_receiver(dir: &Path) -> std::path::PathBuf {
    script(
        dir,
        "receiver.sh",
        &format!(
            r#"{STATUS_FN}
while [ -d "$TEST_DIR" ]; do
  if [ -e "$TEST_DIR/idle" ]; then status idle; else status mirroring; fi
  sleep 0.05
done"#
        ),
    )
}

#[test]
fn the_lock_is_held_while_mirroring_and_released_when_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("idle"), "").expect("idle");
    let child = mirroring_receiver(dir.path());
    let mut shim = Shim::start(dir.path(), &child, &[]);
    let lock = shim.lock_path();
    assert!(wait_for(Duration::from_secs(5), || dir
        .path()
        .join("status.json")
        .exists()));
    std::thread::sleep(Duration::from_millis(400));
    assert!(!lock.exists(), "idle receiver: no lock");

    std::fs::remove_file(dir.path().join("idle")).expect("start mirroring");
    assert!(
        wait_for(Duration::from_secs(5), || lock.exists()),
        "log:\n{}",
        shim.log()
    );
    let note = std::fs::read_to_string(&lock).expect("lock note");
    assert_eq!(note.trim(), format!("airglass-shim pid {}", shim.pid()));

    std::fs::write(dir.path().join("idle"), "").expect("go idle");
    assert!(
        wait_for(Duration::from_secs(5), || !lock.exists()),
        "released when idle"
    );

    std::fs::remove_file(dir.path().join("idle")).expect("mirror again");
    assert!(
        wait_for(Duration::from_secs(5), || lock.exists()),
        "taken again"
    );

    // Stopping the shim while mirroring lets updates through afterwards.
    let status = shim.stop().expect("shim exits");
    assert_eq!(status.code(), Some(143), "sh died of the forwarded SIGTERM");
    assert!(!lock.exists(), "released at exit");
    let log = shim.log();
    assert!(log.contains("holding the update lock"), "log:\n{log}");
    assert!(log.contains("releasing the update lock"));
}

#[test]
fn a_stale_lock_of_ours_is_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("idle"), "").expect("idle");
    let lock = dir.path().join("balena/updates.lock");
    std::fs::create_dir_all(dir.path().join("balena")).expect("dir");
    std::fs::write(&lock, "airglass-shim pid 1\n").expect("stale lock");
    let child = mirroring_receiver(dir.path());
    let shim = Shim::start(dir.path(), &child, &[]);
    assert!(
        wait_for(Duration::from_secs(5), || !lock.exists()),
        "log:\n{}",
        shim.log()
    );
    assert!(shim.log().contains("removed a stale update lock"));
}

#[test]
fn a_foreign_lock_is_left_alone_and_waited_for() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = dir.path().join("balena/updates.lock");
    std::fs::create_dir_all(dir.path().join("balena")).expect("dir");
    std::fs::write(&lock, "").expect("supervisor's lock");
    // The balena Supervisor creates its lock files as nobody (uid 65534).
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).expect("chown");
    let child = mirroring_receiver(dir.path());
    let mut shim = Shim::start(dir.path(), &child, &[]);

    assert!(
        wait_for(Duration::from_secs(5), || shim.log().contains("not ours")),
        "log:\n{}",
        shim.log()
    );
    assert!(shim.log().contains("owned by another user"));
    let meta = std::fs::metadata(&lock).expect("still there");
    assert_eq!(meta.uid(), 65534, "the supervisor's lock is untouched");

    // When the supervisor lets go, the mirroring receiver's lock is taken.
    std::fs::remove_file(&lock).expect("supervisor releases");
    assert!(
        wait_for(Duration::from_secs(5), || lock.exists()),
        "log:\n{}",
        shim.log()
    );
    assert_eq!(std::fs::metadata(&lock).expect("ours").uid(), 0);
    shim.stop().expect("shim exits");
    assert!(!lock.exists());
}

#[test]
fn the_lock_is_released_at_the_configured_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = mirroring_receiver(dir.path());
    let mut shim = Shim::start(dir.path(), &child, &[("AIRGLASS_MAX_LOCK_SECONDS", "1")]);
    let lock = shim.lock_path();
    assert!(
        wait_for(Duration::from_secs(5), || lock.exists()),
        "log:\n{}",
        shim.log()
    );
    let taken = std::time::Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || !lock.exists()),
        "never released"
    );
    let held = taken.elapsed();
    assert!(
        held >= Duration::from_millis(800),
        "released after {held:?}"
    );
    // Still mirroring, yet the lock stays released for the rest of the session.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!lock.exists(), "taken again within the same session");
    assert!(shim.log().contains("AIRGLASS_MAX_LOCK_SECONDS"));

    // A new session (idle, then mirroring) may lock again.
    std::fs::write(dir.path().join("idle"), "").expect("idle");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(dir.path().join("idle")).expect("mirroring");
    assert!(
        wait_for(Duration::from_secs(5), || lock.exists()),
        "next session locks"
    );
    shim.stop().expect("shim exits");
}

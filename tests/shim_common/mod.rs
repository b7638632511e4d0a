//! Helpers for the tests that run the real `airglass-shim` binary with fake
//! receivers: small shell scripts written into a temporary directory.
#![allow(dead_code)]

pub mod table;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const SHIM: &str = env!("CARGO_BIN_EXE_airglass-shim");

/// Write an executable `#!/bin/sh` script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Poll `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn send(pid: u32, signal: i32) {
    // SAFETY: plain kill(2) on a pid this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A running shim; killed (with its whole process group) if the test ends early.
pub struct Shim {
    pub child: Child,
    pub log: PathBuf,
    pub dir: PathBuf,
    done: bool,
}

/// The shell fragment fake receivers use to write a status file atomically.
/// Usage in a script: `status idle` or `status mirroring [updated-ms-ago]`.
pub const STATUS_FN: &str = r#"
status() {
  now=$(($(date +%s%N) / 1000000))
  ago=${2:-0}
  printf '{"version":1,"pid":%d,"state":"%s","client":null,"since_unix_ms":%d,"updated_unix_ms":%d}' \
    $$ "$1" "$now" "$((now - ago))" > "$AIRGLASS_STATUS_FILE.tmp"
  mv "$AIRGLASS_STATUS_FILE.tmp" "$AIRGLASS_STATUS_FILE"
}
"#;

impl Shim {
    /// Start the shim supervising `child` with a fresh environment plus `env`.
    /// Defaults for the tests: fast backoff, the lock and status file inside `dir`.
    pub fn start(dir: &Path, child: &Path, env: &[(&str, &str)]) -> Shim {
        let log = dir.join("shim.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(SHIM);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AIRGLASS_SHIM_CHILD", child)
            .env("AIRGLASS_STATE_DIR", dir.join("state"))
            .env("AIRGLASS_STATUS_FILE", dir.join("status.json"))
            .env("BALENA_APP_LOCK_PATH", dir.join("balena/updates.lock"))
            .env("AIRGLASS_SHIM_BACKOFF_MS", "100")
            .env("AIRGLASS_SHIM_BACKOFF_MAX_MS", "400")
            .env("AIRGLASS_SHIM_POLL_MS", "100")
            .env("AIRGLASS_SHIM_STOP_GRACE_MS", "2000")
            .env("AIRGLASS_NAME", "test receiver")
            .env("AIRGLASS_LOG", "debug")
            .env("TEST_DIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start airglass-shim");
        Shim {
            child,
            log,
            dir: dir.to_path_buf(),
            done: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("balena/updates.lock")
    }

    pub fn signal(&self, signal: i32) {
        send(self.pid(), signal);
    }

    /// Wait for the shim to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.done = true;
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the shim with SIGTERM and return its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(10))
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if !self.done {
            // Let the shim stop its receiver first, then make sure it is gone.
            self.signal(libc::SIGTERM);
            if self.wait(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Lines of a file, empty when it does not exist.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

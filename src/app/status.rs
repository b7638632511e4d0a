//! The status file the supervisor shim reads for health and the update lock:
//! `{"version":1,"pid":N,"state":"starting|idle|mirroring","client":..,"since_unix_ms":N,
//! "updated_unix_ms":N}`, rewritten atomically (temp file + rename) on every change and at
//! least every [`REFRESH`].

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tracing::warn;

/// The longest the file goes without a rewrite while the receiver runs.
pub const REFRESH: Duration = Duration::from_secs(2);

/// What the receiver is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Starting,
    Idle,
    Mirroring,
    Stopping,
}

#[derive(Debug, Clone, Serialize)]
struct Status {
    version: u32,
    pid: u32,
    state: State,
    client: Option<String>,
    since_unix_ms: u64,
    updated_unix_ms: u64,
}

/// Shared handle; cheap to clone.
#[derive(Clone)]
pub struct StatusHandle {
    inner: Arc<Mutex<Status>>,
    changed: Arc<Notify>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl StatusHandle {
    /// Starts the writer task for `path`.
    pub fn start(path: PathBuf) -> StatusHandle {
        let handle = StatusHandle {
            inner: Arc::new(Mutex::new(Status {
                version: 1,
                pid: std::process::id(),
                state: State::Starting,
                client: None,
                since_unix_ms: unix_ms(),
                updated_unix_ms: 0,
            })),
            changed: Arc::new(Notify::new()),
        };
        let h = handle.clone();
        tokio::spawn(async move {
            let mut warned = false;
            loop {
                let snapshot = {
                    let mut s = h.inner.lock().unwrap_or_else(|p| p.into_inner());
                    s.updated_unix_ms = unix_ms();
                    s.clone()
                };
                match write_atomically(&path, &snapshot) {
                    Ok(()) => warned = false,
                    Err(e) if !warned => {
                        warn!(path = %path.display(), error = %e, "cannot write the status file");
                        warned = true;
                    }
                    Err(_) => {}
                }
                if snapshot.state == State::Stopping {
                    return;
                }
                let _ = tokio::time::timeout(REFRESH, h.changed.notified()).await;
            }
        });
        handle
    }

    /// Records a new state (and client label).
    pub fn set(&self, state: State, client: Option<String>) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if s.state != state || s.client != client {
            s.state = state;
            s.client = client;
            s.since_unix_ms = unix_ms();
            drop(s);
            self.changed.notify_one();
        }
    }

    pub fn state(&self) -> State {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).state
    }
}

fn write_atomically(path: &Path, status: &Status) -> std::io::Result<()> {
    let json = serde_json::to_vec(status).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_state_changes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let h = StatusHandle::start(path.clone());
        h.set(State::Mirroring, Some("Anna's iPhone".into()));
        let mut seen = serde_json::Value::Null;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Ok(text) = std::fs::read_to_string(&path) {
                seen = serde_json::from_str(&text).unwrap();
                if seen["state"] == "mirroring" {
                    break;
                }
            }
        }
        assert_eq!(seen["state"], "mirroring");
        assert_eq!(seen["client"], "Anna's iPhone");
        assert_eq!(seen["version"], 1);
        assert_eq!(seen["pid"], std::process::id());
        assert!(seen["updated_unix_ms"].as_u64().unwrap() > 0);
    }
}

//! The receiver's status file and what it says about the receiver's health.
//!
//! Owns: the status file format (`{"version":1,"pid":..,"state":..,"client":..,
//! "since_unix_ms":..,"updated_unix_ms":..}`), reading it, the pure verdict
//! [`judge`], and the full check behind `airglass-shim health` ([`check`]).
//!
//! Must not touch: the receiver itself (it writes the file; this module only reads),
//! the update lock, or process supervision.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The only status file version this shim understands.
pub const STATUS_VERSION: u32 = 1;

/// Largest status file accepted; a real one is about 200 bytes.
const MAX_STATUS_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("status file {path} is missing")]
    Missing { path: String },
    #[error("cannot read status file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("status file {path} is larger than {MAX_STATUS_BYTES} bytes")]
    TooLarge { path: String },
    #[error("status file is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("status file version {0} is not supported (expected {STATUS_VERSION})")]
    Version(u32),
}

/// What the receiver says it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverState {
    Starting,
    Idle,
    Mirroring,
}

/// One status file, as written by `airglass`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceiverStatus {
    pub version: u32,
    pub pid: u32,
    pub state: ReceiverState,
    pub client: Option<String>,
    pub since_unix_ms: u64,
    pub updated_unix_ms: u64,
}

/// How fresh a status must be, and how long "starting" may last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthLimits {
    /// The file must have been rewritten within this long.
    pub max_age: Duration,
    /// The receiver may say "starting" for at most this long.
    pub max_starting: Duration,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            max_age: Duration::from_secs(10),
            max_starting: Duration::from_secs(60),
        }
    }
}

/// The answer to "is the receiver healthy?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Unhealthy(String),
}

/// Parse a status file's bytes.
pub fn parse_status(bytes: &[u8]) -> Result<ReceiverStatus, HealthError> {
    let status: ReceiverStatus = serde_json::from_slice(bytes)?;
    if status.version != STATUS_VERSION {
        return Err(HealthError::Version(status.version));
    }
    Ok(status)
}

/// Read and parse the status file at `path`.
pub fn read_status(path: &Path) -> Result<ReceiverStatus, HealthError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            HealthError::Missing {
                path: shown.clone(),
            }
        } else {
            HealthError::Read {
                path: shown.clone(),
                source,
            }
        }
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| HealthError::Read {
            path: shown.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_STATUS_BYTES {
        return Err(HealthError::TooLarge { path: shown });
    }
    parse_status(&bytes)
}

/// Judge a status against the wall clock `now_unix_ms`; pure (the pid is not checked).
pub fn judge(status: &ReceiverStatus, now_unix_ms: u64, limits: &HealthLimits) -> Verdict {
    let age = now_unix_ms.saturating_sub(status.updated_unix_ms);
    if u128::from(age) > limits.max_age.as_millis() {
        return Verdict::Unhealthy(format!(
            "status last updated {age} ms ago (limit {} ms)",
            limits.max_age.as_millis()
        ));
    }
    if status.state == ReceiverState::Starting {
        let starting = now_unix_ms.saturating_sub(status.since_unix_ms);
        if u128::from(starting) > limits.max_starting.as_millis() {
            return Verdict::Unhealthy(format!(
                "receiver has been starting for {starting} ms (limit {} ms)",
                limits.max_starting.as_millis()
            ));
        }
    }
    Verdict::Healthy
}

/// Whether a process with this pid exists (it may belong to another user).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The whole check behind `airglass-shim health`: file present, fresh, sane, pid alive.
pub fn check(path: &Path, now_unix_ms: u64, limits: &HealthLimits) -> Verdict {
    let status = match read_status(path) {
        Ok(status) => status,
        Err(error) => return Verdict::Unhealthy(error.to_string()),
    };
    if !process_alive(status.pid) {
        return Verdict::Unhealthy(format!("receiver process {} is gone", status.pid));
    }
    judge(&status, now_unix_ms, limits)
}

/// Milliseconds since the Unix epoch by the wall clock (0 if the clock is before 1970).
pub fn wall_clock_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

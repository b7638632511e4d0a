//! The words the policy and the effect layer share: events in, actions out,
//! signals, exit statuses, and how durations and exits read in logs.
//!
//! Owns: these types and their conversions. Must not touch: any decision (that is
//! `policy`) or any system call (that is `supervise`).

use std::time::Duration;

use crate::shim::health::ReceiverStatus;

/// Signals the shim receives or sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
    Usr1,
    Usr2,
    Kill,
}

impl Signal {
    /// The Linux signal number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Kill => libc::SIGKILL,
        }
    }

    /// The signal for a Linux signal number, if the shim handles it.
    pub fn from_number(number: i32) -> Option<Signal> {
        [
            Signal::Term,
            Signal::Int,
            Signal::Hup,
            Signal::Usr1,
            Signal::Usr2,
            Signal::Kill,
        ]
        .into_iter()
        .find(|s| s.number() == number)
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signaled(i32),
}

impl ChildExit {
    /// The shell convention: the code itself, or 128 + the signal number.
    pub fn status_code(self) -> i32 {
        match self {
            ChildExit::Code(code) => code,
            ChildExit::Signaled(signal) => 128 + signal,
        }
    }
}

/// What the status file said at one poll, with the wall clock of that poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// `None` when the file is missing or unreadable.
    pub status: Option<ReceiverStatus>,
    pub wall_unix_ms: u64,
}

/// What became of an attempt on the update lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Taken,
    /// The lock file exists and is not ours (the supervisor's, or someone else's).
    Busy,
    Released,
    Failed(String),
}

/// Everything the policy reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The shim has started.
    Started,
    Spawned {
        pid: u32,
    },
    /// The child could not be started; `missing` when the program does not exist.
    SpawnFailed {
        missing: bool,
        reason: String,
    },
    ChildExited {
        pid: u32,
        exit: ChildExit,
    },
    /// A signal arrived at the shim.
    Signal(Signal),
    Observed(Observation),
    Lock(LockOutcome),
    /// Time passed (a deadline may be due).
    Tick,
}

/// Log severities, so the policy can say why without a logging crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

/// Everything the policy asks the effect layer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remove a lock file left behind by an earlier run of the shim.
    RemoveStaleLock,
    Spawn,
    Signal {
        pid: u32,
        signal: Signal,
    },
    TakeLock,
    ReleaseLock,
    Log {
        severity: Severity,
        message: String,
    },
    /// Leave with this exit status.
    Exit {
        code: i32,
    },
}

/// Durations as people read them in logs: "150ms", "1.5s", "2s", "1m30s", "4h".
pub fn describe(duration: Duration) -> String {
    let ms = duration.as_millis();
    let secs = duration.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(1000) {
        format!("{:.1}s", duration.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        match (secs / 60, secs % 60) {
            (m, 0) => format!("{m}m"),
            (m, s) => format!("{m}m{s}s"),
        }
    } else {
        match (secs / 3600, (secs % 3600) / 60) {
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h{m}m"),
        }
    }
}

pub fn describe_exit(exit: ChildExit) -> String {
    match exit {
        ChildExit::Code(code) => format!("exit code {code}"),
        ChildExit::Signaled(signal) => format!("killed by signal {signal}"),
    }
}

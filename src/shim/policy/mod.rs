//! The shim's decisions, as a pure function: `next(state, event, now) -> actions`.
//!
//! Owns: when to spawn the receiver, how long to back off after a failure, when to
//! stop restarting (configuration errors), how to stop on a signal (forward, wait,
//! kill), the hang watchdog, and when to take and release the balena update lock.
//!
//! Must not touch: processes, signals, files, clocks or sockets. Time comes in as
//! `now`; what happened comes in as an [`Event`]; what to do goes out as [`Action`]s,
//! which `shim::supervise` carries out and answers with further events.

use std::time::{Duration, Instant};

use super::health::{self, HealthLimits, ReceiverState, Verdict};

mod vocabulary;

pub use vocabulary::{
    Action, ChildExit, Event, LockOutcome, Observation, Severity, Signal, describe, describe_exit,
};

/// Exit code of `airglass` for a clean stop.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code of `airglass` for a command-line usage error (clap).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of `airglass` for a resource that is unavailable (port busy, no network).
pub const EXIT_UNAVAILABLE: i32 = 69;
/// Exit code of `airglass` for an internal error.
pub const EXIT_INTERNAL: i32 = 70;
/// Exit code of `airglass` for a configuration error: restarting will not help.
pub const EXIT_CONFIG: i32 = 78;

/// The knobs of the policy; all durations, no clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Delay before the first restart after a failure; doubles per failure.
    pub backoff_initial: Duration,
    /// Upper bound of the restart delay.
    pub backoff_max: Duration,
    /// A run at least this long resets the backoff to `backoff_initial`.
    pub healthy_run: Duration,
    /// After forwarding a stop signal, how long to wait before SIGKILL.
    pub stop_grace: Duration,
    /// The update lock is never held longer than this in one mirroring session.
    pub max_lock: Duration,
    /// Restart a receiver that has been unhealthy this long; `None` disables it.
    pub watchdog: Option<Duration>,
    /// How long a new receiver may go without writing its status file.
    pub startup_grace: Duration,
    /// Limits used to judge the status file (shared with `airglass-shim health`).
    pub health: HealthLimits,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            healthy_run: Duration::from_secs(60),
            stop_grace: Duration::from_secs(8),
            max_lock: Duration::from_secs(4 * 60 * 60),
            watchdog: Some(Duration::from_secs(30)),
            startup_grace: Duration::from_secs(60),
            health: HealthLimits::default(),
        }
    }
}

/// Where the supervised receiver is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Before `Started`.
    Fresh,
    /// A spawn was asked for and its outcome is not known yet.
    Spawning,
    Running {
        pid: u32,
        since: Instant,
        unhealthy_since: Option<Instant>,
    },
    /// The watchdog asked a hung receiver to stop; a restart follows its exit.
    Recycling {
        pid: u32,
        kill_at: Instant,
        killed: bool,
    },
    BackingOff {
        until: Instant,
    },
    /// A configuration error: no more restarts; waiting for a stop signal.
    Halted,
    /// A stop signal arrived; waiting for the child to leave.
    Stopping {
        pid: u32,
        kill_at: Instant,
        killed: bool,
    },
    Exited {
        code: i32,
    },
}

/// Whether this shim holds the update lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockPhase {
    Free,
    /// A `TakeLock` is on its way.
    Taking,
    Held {
        since: Instant,
    },
    /// Released at the bound; not taken again until the receiver leaves "mirroring".
    Exhausted,
}

/// The policy's whole memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimState {
    pub config: PolicyConfig,
    pub phase: Phase,
    pub lock: LockPhase,
    /// Failures since the last healthy run; sets the next backoff.
    pub failures: u32,
    /// Exit status of the last child, as a shell would report it.
    pub last_status: Option<i32>,
    /// The lock file was busy and that has been said once already.
    busy_reported: bool,
}

impl ShimState {
    pub fn new(config: PolicyConfig) -> ShimState {
        ShimState {
            config,
            phase: Phase::Fresh,
            lock: LockPhase::Free,
            failures: 0,
            last_status: None,
            busy_reported: false,
        }
    }

    /// The pid of the child the shim is responsible for, if one runs.
    pub fn child_pid(&self) -> Option<u32> {
        match self.phase {
            Phase::Running { pid, .. }
            | Phase::Recycling { pid, .. }
            | Phase::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// The next instant at which a `Tick` has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::BackingOff { until } => Some(until),
            Phase::Stopping {
                kill_at,
                killed: false,
                ..
            }
            | Phase::Recycling {
                kill_at,
                killed: false,
                ..
            } => Some(kill_at),
            _ => None,
        }
    }

    /// The delay before the next restart, given the failures counted so far.
    pub fn backoff(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(31);
        let delay = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << doublings);
        delay.min(self.config.backoff_max)
    }
}

fn log(severity: Severity, message: impl Into<String>) -> Action {
    Action::Log {
        severity,
        message: message.into(),
    }
}

/// Decide what to do about `event` at `now`, updating `state`.
pub fn next(state: &mut ShimState, event: Event, now: Instant) -> Vec<Action> {
    if let Phase::Exited { .. } = state.phase {
        return Vec::new();
    }
    match event {
        Event::Started => on_started(state),
        Event::Spawned { pid } => on_spawned(state, pid, now),
        Event::SpawnFailed { missing, reason } => on_spawn_failed(state, missing, &reason, now),
        Event::ChildExited { pid, exit } => on_child_exited(state, pid, exit, now),
        Event::Signal(signal) => on_signal(state, signal, now),
        Event::Observed(observation) => on_observed(state, &observation, now),
        Event::Lock(outcome) => on_lock(state, outcome, now),
        Event::Tick => on_tick(state, now),
    }
}

fn on_started(state: &mut ShimState) -> Vec<Action> {
    if state.phase != Phase::Fresh {
        return Vec::new();
    }
    state.phase = Phase::Spawning;
    vec![Action::RemoveStaleLock, Action::Spawn]
}

fn on_spawned(state: &mut ShimState, pid: u32, now: Instant) -> Vec<Action> {
    state.phase = Phase::Running {
        pid,
        since: now,
        unhealthy_since: None,
    };
    vec![log(Severity::Info, format!("receiver started (pid {pid})"))]
}

fn on_spawn_failed(
    state: &mut ShimState,
    missing: bool,
    reason: &str,
    now: Instant,
) -> Vec<Action> {
    if missing {
        state.phase = Phase::Halted;
        return vec![log(
            Severity::Error,
            format!(
                "cannot start the receiver: {reason}; not retrying (set AIRGLASS_SHIM_CHILD or install airglass beside airglass-shim)"
            ),
        )];
    }
    state.failures = state.failures.saturating_add(1);
    let delay = state.backoff();
    state.phase = Phase::BackingOff { until: now + delay };
    vec![log(
        Severity::Warn,
        format!(
            "cannot start the receiver: {reason}; retrying in {}",
            describe(delay)
        ),
    )]
}

fn on_child_exited(state: &mut ShimState, pid: u32, exit: ChildExit, now: Instant) -> Vec<Action> {
    if state.child_pid() != Some(pid) {
        return Vec::new();
    }
    let code = exit.status_code();
    state.last_status = Some(code);
    let mut actions = release_lock(state);
    match std::mem::replace(&mut state.phase, Phase::Spawning) {
        Phase::Stopping { .. } => {
            state.phase = Phase::Exited { code };
            actions.push(log(
                Severity::Info,
                format!("receiver stopped ({}); exiting", describe_exit(exit)),
            ));
            actions.push(Action::Exit { code });
        }
        Phase::Recycling { .. } => {
            state.failures = state.failures.saturating_add(1);
            actions.extend(back_off(state, now, "restarted by the watchdog"));
        }
        Phase::Running { since, .. } => {
            if now.saturating_duration_since(since) >= state.config.healthy_run {
                state.failures = 0;
            }
            actions.extend(after_unasked_exit(state, exit, now));
        }
        other => state.phase = other,
    }
    actions
}

/// The receiver left without being asked to: decide between restart, halt and exit.
fn after_unasked_exit(state: &mut ShimState, exit: ChildExit, now: Instant) -> Vec<Action> {
    match exit {
        ChildExit::Code(EXIT_CLEAN) => {
            state.phase = Phase::Exited { code: EXIT_CLEAN };
            vec![
                log(Severity::Info, "receiver exited cleanly; exiting"),
                Action::Exit { code: EXIT_CLEAN },
            ]
        }
        ChildExit::Code(code @ (EXIT_CONFIG | EXIT_USAGE)) => {
            state.phase = Phase::Halted;
            let what = if code == EXIT_CONFIG {
                "a configuration error"
            } else {
                "a command-line usage error"
            };
            vec![log(
                Severity::Error,
                format!(
                    "receiver exited with code {code} ({what}); not restarting until the settings change: check the AIRGLASS_* variables and the receiver's message above, then restart the service"
                ),
            )]
        }
        _ => {
            state.failures = state.failures.saturating_add(1);
            let why = match exit {
                ChildExit::Code(EXIT_UNAVAILABLE) => {
                    "a resource was unavailable (port busy or no network)".to_string()
                }
                ChildExit::Code(EXIT_INTERNAL) => "an internal error".to_string(),
                other => describe_exit(other),
            };
            back_off(state, now, &why)
        }
    }
}

fn back_off(state: &mut ShimState, now: Instant, why: &str) -> Vec<Action> {
    let delay = state.backoff();
    state.phase = Phase::BackingOff { until: now + delay };
    vec![log(
        Severity::Warn,
        format!(
            "receiver failed: {why}; restarting in {} (failure {})",
            describe(delay),
            state.failures
        ),
    )]
}

fn on_signal(state: &mut ShimState, signal: Signal, now: Instant) -> Vec<Action> {
    let stop = matches!(signal, Signal::Term | Signal::Int);
    if !stop {
        // Anything else is passed through untouched.
        return match state.child_pid() {
            Some(pid) => vec![Action::Signal { pid, signal }],
            None => Vec::new(),
        };
    }
    match state.phase.clone() {
        Phase::Running { pid, .. } | Phase::Recycling { pid, .. } => {
            state.phase = Phase::Stopping {
                pid,
                kill_at: now + state.config.stop_grace,
                killed: false,
            };
            vec![
                log(
                    Severity::Info,
                    format!("stop requested ({signal:?}); forwarding it to the receiver"),
                ),
                Action::Signal { pid, signal },
            ]
        }
        Phase::Stopping { pid, .. } => vec![Action::Signal { pid, signal }],
        _ => {
            let code = state.last_status.unwrap_or(EXIT_CLEAN);
            state.phase = Phase::Exited { code };
            let mut actions = release_lock(state);
            actions.push(log(
                Severity::Info,
                format!("stop requested ({signal:?}) with no receiver running; exiting"),
            ));
            actions.push(Action::Exit { code });
            actions
        }
    }
}

fn on_tick(state: &mut ShimState, now: Instant) -> Vec<Action> {
    match state.phase.clone() {
        Phase::BackingOff { until } if now >= until => {
            state.phase = Phase::Spawning;
            vec![Action::Spawn]
        }
        Phase::Stopping {
            pid,
            kill_at,
            killed: false,
        } if now >= kill_at => {
            state.phase = Phase::Stopping {
                pid,
                kill_at,
                killed: true,
            };
            kill(pid, state.config.stop_grace)
        }
        Phase::Recycling {
            pid,
            kill_at,
            killed: false,
        } if now >= kill_at => {
            state.phase = Phase::Recycling {
                pid,
                kill_at,
                killed: true,
            };
            kill(pid, state.config.stop_grace)
        }
        _ => Vec::new(),
    }
}

fn kill(pid: u32, grace: Duration) -> Vec<Action> {
    vec![
        log(
            Severity::Warn,
            format!(
                "receiver did not stop within {}; killing it",
                describe(grace)
            ),
        ),
        Action::Signal {
            pid,
            signal: Signal::Kill,
        },
    ]
}

fn on_observed(state: &mut ShimState, observation: &Observation, now: Instant) -> Vec<Action> {
    let Phase::Running {
        pid,
        since,
        unhealthy_since,
    } = state.phase.clone()
    else {
        return Vec::new();
    };
    // A status file written by an earlier child says nothing about this one.
    let status = observation.status.as_ref().filter(|s| s.pid == pid);
    let verdict = match status {
        Some(status) => health::judge(status, observation.wall_unix_ms, &state.config.health),
        None if now.saturating_duration_since(since) < state.config.startup_grace => {
            Verdict::Healthy
        }
        None => Verdict::Unhealthy("the receiver has not written its status file".to_string()),
    };
    let mirroring =
        verdict == Verdict::Healthy && status.is_some_and(|s| s.state == ReceiverState::Mirroring);

    let mut actions = lock_for(state, mirroring, now);

    match verdict {
        Verdict::Healthy => {
            state.phase = Phase::Running {
                pid,
                since,
                unhealthy_since: None,
            };
        }
        Verdict::Unhealthy(reason) => {
            let first = unhealthy_since.unwrap_or(now);
            match state.config.watchdog {
                Some(limit) if now.saturating_duration_since(first) >= limit => {
                    state.phase = Phase::Recycling {
                        pid,
                        kill_at: now + state.config.stop_grace,
                        killed: false,
                    };
                    actions.extend(release_lock(state));
                    actions.push(log(
                        Severity::Warn,
                        format!(
                            "receiver unresponsive for {} ({reason}); restarting it",
                            describe(limit)
                        ),
                    ));
                    actions.push(Action::Signal {
                        pid,
                        signal: Signal::Term,
                    });
                }
                _ => {
                    state.phase = Phase::Running {
                        pid,
                        since,
                        unhealthy_since: Some(first),
                    };
                }
            }
        }
    }
    actions
}

/// Lock decisions for one observation: hold it while mirroring, within the bound.
fn lock_for(state: &mut ShimState, mirroring: bool, now: Instant) -> Vec<Action> {
    match (state.lock.clone(), mirroring) {
        (LockPhase::Free, true) => {
            state.lock = LockPhase::Taking;
            vec![Action::TakeLock]
        }
        (LockPhase::Held { since }, true)
            if now.saturating_duration_since(since) >= state.config.max_lock =>
        {
            state.lock = LockPhase::Exhausted;
            vec![
                log(
                    Severity::Warn,
                    format!(
                        "update lock held for {} (AIRGLASS_MAX_LOCK_SECONDS); releasing it although the receiver is still mirroring",
                        describe(state.config.max_lock)
                    ),
                ),
                Action::ReleaseLock,
            ]
        }
        (LockPhase::Held { .. }, false) => {
            state.lock = LockPhase::Free;
            vec![
                log(Severity::Info, "mirroring ended; releasing the update lock"),
                Action::ReleaseLock,
            ]
        }
        (LockPhase::Exhausted, false) => {
            state.lock = LockPhase::Free;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn release_lock(state: &mut ShimState) -> Vec<Action> {
    match std::mem::replace(&mut state.lock, LockPhase::Free) {
        LockPhase::Held { .. } | LockPhase::Taking => vec![Action::ReleaseLock],
        _ => Vec::new(),
    }
}

fn on_lock(state: &mut ShimState, outcome: LockOutcome, now: Instant) -> Vec<Action> {
    match outcome {
        LockOutcome::Taken => {
            state.busy_reported = false;
            if state.lock == LockPhase::Taking {
                state.lock = LockPhase::Held { since: now };
                vec![log(
                    Severity::Info,
                    "receiver is mirroring; holding the update lock",
                )]
            } else {
                // The reason to hold it went away while it was being taken.
                vec![Action::ReleaseLock]
            }
        }
        LockOutcome::Busy => {
            if state.lock == LockPhase::Taking {
                state.lock = LockPhase::Free;
            }
            if std::mem::replace(&mut state.busy_reported, true) {
                Vec::new()
            } else {
                vec![log(
                    Severity::Warn,
                    "update lock file exists and is not ours (the supervisor may be updating); will retry",
                )]
            }
        }
        LockOutcome::Released => Vec::new(),
        LockOutcome::Failed(reason) => {
            if state.lock == LockPhase::Taking {
                state.lock = LockPhase::Free;
            }
            vec![log(
                Severity::Warn,
                format!("update lock operation failed: {reason}"),
            )]
        }
    }
}

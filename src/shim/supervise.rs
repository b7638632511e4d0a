//! The thin effect layer: carries out the policy's actions and turns the outside
//! world into its events.
//!
//! Owns: the process-wide signal mask, waiting for signals (`sigtimedwait`),
//! spawning the receiver, forwarding signals, reaping every child (the receiver and
//! any orphan reparented to the shim, as PID 1 or as a child subreaper), polling the
//! status file, and acting on the update lock.
//!
//! Must not touch: decisions. Every "whether" and "when" is `policy::next`'s; this
//! file only does what it is told and reports what happened. It must run before any
//! other thread exists, since the signal mask is set for the whole process.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::health;
use super::lock::{StaleOutcome, TakeOutcome, UpdateLock};
use super::policy::{
    self, Action, ChildExit, Event, LockOutcome, Observation, Severity, ShimState, Signal,
};
use super::settings::{self, ShimSettings};

/// The signals the shim waits for instead of letting them act.
const HANDLED: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCHLD,
];

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("cannot block signals: {0}")]
    SignalMask(std::io::Error),
}

/// Supervise the receiver until the policy says to exit; returns the exit status.
/// `args` are passed to the receiver as its command-line arguments.
pub fn run(settings: &ShimSettings, args: &[std::ffi::OsString]) -> Result<i32, SuperviseError> {
    let signals = block_signals()?;
    become_subreaper();
    if let Err(error) = std::fs::create_dir_all(&settings.state_dir) {
        tracing::warn!(dir = %settings.state_dir.display(), %error, "cannot create the state directory");
    }

    let mut effects = Effects {
        settings,
        args,
        lock: UpdateLock::new(&settings.lock_path),
    };
    let mut state = ShimState::new(settings.policy.clone());
    let mut pending = VecDeque::from([Event::Started]);
    let mut next_poll = Instant::now();

    loop {
        while let Some(event) = pending.pop_front() {
            for action in policy::next(&mut state, event, Instant::now()) {
                if let Action::Exit { code } = action {
                    effects.release_lock();
                    return Ok(code);
                }
                pending.extend(effects.perform(action));
            }
        }

        let now = Instant::now();
        if state.child_pid().is_some() && now >= next_poll {
            next_poll = now + settings.poll_interval;
            pending.push_back(Event::Observed(observe(&settings.status_file)));
            continue;
        }
        let mut wake = next_poll.max(now);
        if state.child_pid().is_none() {
            wake = now + settings.poll_interval;
        }
        if let Some(deadline) = state.deadline() {
            wake = wake.min(deadline);
        }
        match wait_signal(&signals, wake.saturating_duration_since(now)) {
            Some(libc::SIGCHLD) => pending.extend(reap(state.child_pid())),
            Some(number) => {
                if let Some(signal) = Signal::from_number(number) {
                    pending.push_back(Event::Signal(signal));
                }
                // A SIGCHLD may hide behind another signal; reaping is cheap.
                pending.extend(reap(state.child_pid()));
            }
            None => {
                pending.extend(reap(state.child_pid()));
                pending.push_back(Event::Tick);
            }
        }
    }
}

struct Effects<'a> {
    settings: &'a ShimSettings,
    args: &'a [std::ffi::OsString],
    lock: UpdateLock,
}

impl Effects<'_> {
    /// Carry out one action; return the events it produced.
    fn perform(&mut self, action: Action) -> Vec<Event> {
        match action {
            Action::RemoveStaleLock => {
                match self.lock.remove_stale() {
                    Ok(StaleOutcome::Removed) => tracing::info!(
                        path = %self.lock.path().display(),
                        "removed a stale update lock left by an earlier run"
                    ),
                    Ok(StaleOutcome::LeftForeign { uid }) => tracing::info!(
                        path = %self.lock.path().display(),
                        uid,
                        "an update lock owned by another user exists; leaving it"
                    ),
                    Ok(StaleOutcome::NoLock) => {}
                    Err(error) => tracing::warn!(%error, "cannot clear a stale update lock"),
                }
                Vec::new()
            }
            Action::Spawn => vec![self.spawn()],
            Action::Signal { pid, signal } => {
                send_signal(pid, signal);
                Vec::new()
            }
            Action::TakeLock => vec![Event::Lock(match self.lock.take() {
                Ok(TakeOutcome::Taken) => LockOutcome::Taken,
                Ok(TakeOutcome::Busy) => LockOutcome::Busy,
                Err(error) => LockOutcome::Failed(error.to_string()),
            })],
            Action::ReleaseLock => vec![Event::Lock(match self.lock.release() {
                Ok(()) => LockOutcome::Released,
                Err(error) => LockOutcome::Failed(error.to_string()),
            })],
            Action::Log { severity, message } => {
                match severity {
                    Severity::Info => tracing::info!("{message}"),
                    Severity::Warn => tracing::warn!("{message}"),
                    Severity::Error => tracing::error!("{message}"),
                }
                Vec::new()
            }
            // Handled by the loop before it gets here.
            Action::Exit { .. } => Vec::new(),
        }
    }

    fn release_lock(&mut self) {
        if let Err(error) = self.lock.release() {
            tracing::warn!(%error, "cannot release the update lock");
        }
    }

    fn spawn(&self) -> Event {
        let lookup = |name: &str| std::env::var(name).ok();
        let (name, notes) = settings::resolve_name(&lookup, &settings::kernel_host_name);
        for note in notes {
            tracing::warn!("{note}");
        }
        if let Some(chosen) = name.name() {
            tracing::info!(name = chosen, source = ?name, "receiver name");
        }
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let env = settings::child_environment(&vars, self.settings, &name);

        let mut command = std::process::Command::new(&self.settings.child_program);
        command.args(self.args);
        for key in &env.remove {
            command.env_remove(key);
        }
        command.envs(env.set.iter().map(|(k, v)| (k, v)));
        match command.spawn() {
            // Dropping the handle neither waits nor kills; `reap` collects the child.
            Ok(child) => Event::Spawned { pid: child.id() },
            Err(error) => Event::SpawnFailed {
                missing: matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ),
                reason: format!("{}: {error}", self.settings.child_program.display()),
            },
        }
    }
}

fn observe(path: &std::path::Path) -> Observation {
    let status = match health::read_status(path) {
        Ok(status) => Some(status),
        Err(health::HealthError::Missing { .. }) => None,
        Err(error) => {
            tracing::debug!(%error, "status file unreadable");
            None
        }
    };
    Observation {
        status,
        wall_unix_ms: health::wall_clock_unix_ms(),
    }
}

/// Block the handled signals for the whole process; they are taken with
/// `sigtimedwait`. Children get an empty mask again from `std::process::Command`.
fn block_signals() -> Result<libc::sigset_t, SuperviseError> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it, and
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in HANDLED {
            libc::sigaddset(&mut set, signal);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(SuperviseError::SignalMask(
                std::io::Error::from_raw_os_error(rc),
            ));
        }
        Ok(set)
    }
}

/// Adopt orphaned descendants even when not PID 1, so they are reaped here too.
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot become a child subreaper");
    }
}

/// Wait up to `timeout` for one of the blocked signals; `None` on timeout.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let timeout = timeout.max(Duration::from_millis(1));
    let spec = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9, so it fits c_long on every target (32-bit armv7 included).
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: all pointers are to live locals; siginfo may be null.
    let rc = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &spec) };
    (rc > 0).then_some(rc)
}

/// Collect every exited child; report the supervised one.
fn reap(child: Option<u32>) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: status is a live local; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return events;
        }
        let exit = if libc::WIFEXITED(status) {
            ChildExit::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            ChildExit::Signaled(libc::WTERMSIG(status))
        } else {
            continue;
        };
        let pid = u32::try_from(pid).unwrap_or_default();
        if Some(pid) == child {
            events.push(Event::ChildExited { pid, exit });
        } else {
            tracing::debug!(pid, status = exit.status_code(), "reaped an orphan");
        }
    }
}

fn send_signal(pid: u32, signal: Signal) {
    let Ok(target) = libc::pid_t::try_from(pid) else {
        return;
    };
    if target <= 0 {
        return;
    }
    // SAFETY: kill only sends a signal to a positive pid the shim spawned.
    let rc = unsafe { libc::kill(target, signal.number()) };
    if rc != 0 {
        tracing::debug!(pid, ?signal, error = %std::io::Error::last_os_error(), "signal not delivered");
    }
}

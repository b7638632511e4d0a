//! The table runner for the policy tests: a script of (seconds since start, event)
//! with the actions each step must produce.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use airglass::shim::health::{HealthLimits, ReceiverState, ReceiverStatus};
use airglass::shim::policy::{
    Action, ChildExit, Event, Observation, PolicyConfig, ShimState, Signal, next,
};

pub const WALL0: u64 = 1_700_000_000_000;

pub fn config() -> PolicyConfig {
    PolicyConfig {
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(8),
        healthy_run: Duration::from_secs(60),
        stop_grace: Duration::from_secs(5),
        max_lock: Duration::from_secs(100),
        watchdog: Some(Duration::from_secs(30)),
        startup_grace: Duration::from_secs(20),
        health: HealthLimits::default(),
    }
}

/// A step: at `secs` after the start, `event` happens; `expect` are the non-log
/// actions, `says` a text that a log action must contain (empty: no requirement).
pub struct Step {
    pub secs: f64,
    pub event: Event,
    pub expect: Vec<Action>,
    pub says: &'static str,
}

pub fn step(secs: f64, event: Event, expect: Vec<Action>) -> Step {
    Step {
        secs,
        event,
        expect,
        says: "",
    }
}

pub fn saying(secs: f64, event: Event, expect: Vec<Action>, says: &'static str) -> Step {
    Step {
        secs,
        event,
        expect,
        says,
    }
}

pub fn status(pid: u32, state: ReceiverState, secs: f64, updated_ago_ms: u64) -> Event {
    let wall = WALL0 + (secs * 1000.0) as u64;
    Event::Observed(Observation {
        status: Some(ReceiverStatus {
            version: 1,
            pid,
            state,
            client: None,
            since_unix_ms: WALL0,
            updated_unix_ms: wall - updated_ago_ms,
        }),
        wall_unix_ms: wall,
    })
}

pub fn no_status(secs: f64) -> Event {
    Event::Observed(Observation {
        status: None,
        wall_unix_ms: WALL0 + (secs * 1000.0) as u64,
    })
}

pub fn exited(pid: u32, code: i32) -> Event {
    Event::ChildExited {
        pid,
        exit: ChildExit::Code(code),
    }
}

pub fn sig(pid: u32, signal: Signal) -> Action {
    Action::Signal { pid, signal }
}

/// Run a script; return the final state.
pub fn play(name: &str, config: PolicyConfig, steps: Vec<Step>) -> ShimState {
    let t0 = Instant::now();
    let mut state = ShimState::new(config);
    for (i, step) in steps.into_iter().enumerate() {
        let now = t0 + Duration::from_secs_f64(step.secs);
        let actions = next(&mut state, step.event.clone(), now);
        let (logs, rest): (Vec<_>, Vec<_>) = actions
            .into_iter()
            .partition(|a| matches!(a, Action::Log { .. }));
        assert_eq!(
            rest, step.expect,
            "{name}, step {i} ({:?}): actions differ",
            step.event
        );
        if !step.says.is_empty() {
            assert!(
                logs.iter().any(
                    |a| matches!(a, Action::Log { message, .. } if message.contains(step.says))
                ),
                "{name}, step {i}: no log says {:?}; logs: {logs:?}",
                step.says
            );
        }
    }
    state
}
